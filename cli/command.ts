/**
 * One CLI subcommand: a name, its flag table (flags.ts) and what it does. argv is read
 * with node's parseArgs and then validated by the zod schema derived from the table,
 * so every command reports bad flags the same way: one line naming the flag and what
 * it expects, then the usage line, as a UsageError (exit code 2).
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { UsageError } from "../core/errors.js";
import {
  flagHelp,
  flagSchema,
  flagSyntax,
  isSwitch,
  parseArgsOptions,
  usageLine,
  withBareValues,
  type FlagTable,
  type FlagValues,
} from "./flags.js";

export interface Command {
  readonly name: string;
  readonly usage: string;
  readonly flags: FlagTable;
  /** Reads argv exactly as run does, and nothing more: a UsageError when it is bad. */
  parse(argv: string[]): unknown;
  /** Resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}

/**
 * A registry line. The command's module is imported only when it runs, so
 * `edgefuse broker` never pays for loading onnxruntime and the image libraries.
 */
export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  load(): Promise<Command>;
}

/** A rule across flags, checked once each flag is valid on its own. */
export interface FlagRule<V> {
  /** The flag the message is about. */
  readonly flag: string;
  readonly message: string;
  holds(o: V): boolean;
}

export type Parsed<T extends FlagTable> = FlagValues<T> & { positionals: string[] };

export interface CommandSpec<T extends FlagTable> {
  readonly name: string;
  readonly flags: T;
  /** The positional arguments, as usage writes them (`IMAGE`); without it none are taken. */
  readonly positionals?: string;
  readonly rules?: readonly FlagRule<FlagValues<T>>[];
  /** Resolves to the exit code, or to nothing for 0 (most commands only succeed or throw). */
  run(o: Parsed<T>, usage: string): Promise<void> | Promise<number | undefined>;
}

/** A command whose parse result is typed by its table (what defineCommand makes). */
export interface TypedCommand<T extends FlagTable> extends Command {
  parse(argv: string[]): Parsed<T>;
}

export function defineCommand<T extends FlagTable>(spec: CommandSpec<T>): TypedCommand<T> {
  const usage = usageLine(spec.name, spec.flags, spec.positionals);
  const schema = flagSchema(spec.flags);
  const parse = (argv: string[]) => parseFlags(argv, spec, schema, usage);
  return {
    name: spec.name,
    usage,
    flags: spec.flags,
    parse,
    run: async (argv) => (await spec.run(parse(argv), usage)) ?? 0,
  };
}

/** `edgefuse <command> --help`: the summary, the usage line and every flag of the command's table. */
export const commandHelp = (summary: string, command: Command): string =>
  [summary, "", `usage: ${command.usage}`, "", "flags:", ...flagHelp(command.flags)].join("\n");

/** A UsageError: the problem on one line, then the usage line. */
export const usageError = (message: string, usage: string) => new UsageError(`${message}\nusage: ${usage}`);

function parseFlags<T extends FlagTable>(
  argv: string[],
  spec: CommandSpec<T>,
  schema: z.ZodType<FlagValues<T>, Record<string, unknown>>,
  usage: string,
): Parsed<T> {
  const fail = (message: string): never => {
    throw usageError(message, usage);
  };
  // Not strict: parseArgs' own errors run over several lines, and strict mode refuses
  // `--devices -1` as "ambiguous" instead of letting the schema say what it expects.
  const { values, positionals, tokens } = parseArgs({
    args: withBareValues(spec.flags, argv),
    options: parseArgsOptions(spec.flags),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind === "positional" && spec.positionals === undefined) fail(`unexpected argument '${token.value}'`);
    if (token.kind !== "option") continue;
    const flag = Object.hasOwn(spec.flags, token.name) ? spec.flags[token.name]! : undefined;
    if (!flag) fail(`${token.rawName}: unknown flag (edgefuse ${spec.name} --help lists them)`);
    else if (isSwitch(flag)) {
      if (token.value !== undefined) fail(`${token.rawName}: is a switch and takes no value`);
    } else if (token.value === undefined || (!token.inlineValue && token.value.startsWith("--"))) {
      fail(`${token.rawName}: needs a value (${flagSyntax(token.name, flag)})`);
    }
  }
  const result = schema.safeParse(values);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.length ? String(issue.path[0]) : undefined;
    const given = key === undefined ? undefined : (values as Record<string, unknown>)[key];
    const flag = key === undefined ? undefined : spec.flags[key];
    const missing = flag && given === undefined;
    return fail(
      `${key ? `--${key}` : "flags"}: ${missing ? `is required (${flagSyntax(key!, flag)})` : issue.message}`,
    );
  }
  const broken = spec.rules?.find((rule) => !rule.holds(result.data));
  if (broken) fail(`--${broken.flag}: ${broken.message}`);
  return Object.assign(result.data as object, { positionals }) as Parsed<T>;
}

/** zod schemas for flag values, which parseArgs hands over as strings. */
export const flag = {
  number: (what = "a number") =>
    z
      .string()
      .regex(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, `expected ${what}`)
      .transform(Number),
  int: (what = "an integer") => z.string().regex(/^\d+$/, `expected ${what}`).transform(Number),
  /** A whole number within [min, max], e.g. a device count. */
  intIn: (what: string, min: number, max: number) =>
    flag
      .int(`${what} from ${min} to ${max}`)
      .refine((n) => n >= min && n <= max, `expected ${what} from ${min} to ${max}`),
  probability: () => flag.number("a probability").refine((p) => p >= 0 && p <= 1, "must be between 0 and 1"),
  port: (what = "a TCP port (0 = any free port)") => flag.int(what).refine((n) => n <= 65535, "must be at most 65535"),
  megabytes: () => flag.number("megabytes").refine((n) => n > 0, "must be > 0"),
  /** `A` or `A,B,…` with each part read by `one`; a bad part is named with what is wrong with it. */
  list: <T>(one: z.ZodType<T, string>) =>
    z.string().transform((s, ctx) => {
      const values: T[] = [];
      for (const part of s.split(",")) {
        const parsed = one.safeParse(part.trim());
        if (!parsed.success) {
          ctx.addIssue({ code: "custom", message: `'${part}': ${parsed.error.issues[0]!.message}` });
          return z.NEVER;
        }
        values.push(parsed.data);
      }
      return values;
    }),
};

/**
 * One CLI subcommand: a name, a one-line summary, its flags and what it does.
 * Flags are read with node's parseArgs and then validated by the command's own
 * zod schema, so every command reports bad flags the same way.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { z } from "zod";
import { UsageError } from "../core/errors.js";

export interface Command {
  readonly usage: string;
  /** Resolves to the exit code (0 when nothing is returned). */
  run(argv: string[]): Promise<number | void>;
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

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parse argv against parseArgs options, then a zod schema. Errors become a
 * UsageError that names the flag and shows the usage line.
 */
export function parseFlags<S extends z.ZodType>(
  argv: string[],
  options: Options,
  schema: S,
  usage: string,
  allowPositionals = false,
): z.output<S> & { positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nusage: ${usage}`);
  }
  const result = schema.safeParse(parsed.values);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.length ? String(issue.path[0]) : undefined;
    const missing = key !== undefined && issue.code === "invalid_type" && (parsed.values as Record<string, unknown>)[key] === undefined;
    throw new UsageError(`${key ? `--${key}` : "flags"}: ${missing ? "is required" : issue.message}\nusage: ${usage}`);
  }
  return Object.assign(result.data as object, { positionals: parsed.positionals }) as z.output<S> & { positionals: string[] };
}

/** zod helpers for flag values, which parseArgs hands over as strings. */
export const flag = {
  number: (what = "a number") => z.string().regex(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, `expected ${what}`).transform(Number),
  int: (what = "an integer") => z.string().regex(/^\d+$/, `expected ${what}`).transform(Number),
  probability: () =>
    flag.number("a probability").refine((p) => p >= 0 && p <= 1, "must be between 0 and 1"),
};

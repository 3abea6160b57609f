/**
 * A command's flag table: one entry per flag, with everything parsing, validation and
 * `--help` need. parseArgs' options, the zod schema (defaults included) and the help
 * lines are all derived from it, so the help cannot say something the parser does not do.
 *
 * ```ts
 * const flags = defineFlags({
 *   devices: { value: "N", description: "devices in all: the source + N−1 workers", schema: flag.int("a device count"), default: "3" },
 *   json: { description: "print JSON" },
 * });
 * ```
 */
import type { ParseArgsConfig } from "node:util";
import { z } from "zod";

/** A flag that takes a value: `--name VALUE` or `--name=VALUE`. */
export interface ValueFlag {
  /** What the value looks like, in help and errors: N, FILE, URL. */
  readonly value: string;
  /** One line: what the flag does. */
  readonly description: string;
  /** Checks the text given and converts it; without one, any non-empty text is taken. */
  readonly schema?: z.ZodType<unknown, string>;
  /** The default as a user would type it; it goes through `schema` like a given value. */
  readonly default?: string;
  /** Shown in help instead of `default`, for a default worked out at run time. */
  readonly defaultText?: string;
  readonly required?: boolean;
  /** The value the flag takes when given bare (`--view` alone, or followed by another flag): `--name [VALUE]`. */
  readonly bare?: string;
}

/** A switch: `--name` sets it, absent it is off. */
export interface SwitchFlag {
  readonly value?: never;
  readonly description: string;
}

export type FlagSpec = ValueFlag | SwitchFlag;
export type FlagTable = Readonly<Record<string, FlagSpec>>;

/** Keeps the table's exact type (for FlagValues) while checking it is a table. */
export const defineFlags = <T extends FlagTable>(table: T): T => table;

type ValueOf<F> = F extends { schema: infer S extends z.ZodType } ? z.output<S> : string;
/** Flags that may be absent after parsing: a value flag with neither default nor `required`. */
type OptionalKeys<T> = {
  [K in keyof T]: T[K] extends { value: string }
    ? T[K] extends { default: string } | { required: true }
      ? never
      : K
    : never;
}[keyof T];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** What a command gets from its table once argv is parsed. */
export type FlagValues<T extends FlagTable> = Simplify<
  { -readonly [K in Exclude<keyof T, OptionalKeys<T>>]: T[K] extends { value: string } ? ValueOf<T[K]> : boolean } & {
    -readonly [K in OptionalKeys<T>]?: ValueOf<T[K]>;
  }
>;

export const isSwitch = (spec: FlagSpec): spec is SwitchFlag => spec.value === undefined;

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseArgsOptions(table: FlagTable): Options {
  return Object.fromEntries(
    Object.entries(table).map(([name, spec]) => [name, { type: isSwitch(spec) ? "boolean" : "string" } as const]),
  );
}

/** The zod object for parseArgs' values: each flag's schema, with its default or optional. */
export function flagSchema<T extends FlagTable>(table: T): z.ZodType<FlagValues<T>, Record<string, unknown>> {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, spec] of Object.entries(table)) {
    if (isSwitch(spec)) {
      shape[name] = z.boolean().default(false);
      continue;
    }
    const schema = spec.schema ?? z.string().min(1, "must not be empty");
    shape[name] =
      spec.default !== undefined ? schema.prefault(spec.default) : spec.required ? schema : schema.optional();
  }
  return z.object(shape) as unknown as z.ZodType<FlagValues<T>, Record<string, unknown>>;
}

/** `--name VALUE` (or `--name` for a switch), as usage and help write it. */
export const flagSyntax = (name: string, spec: FlagSpec): string =>
  isSwitch(spec) ? `--${name}` : spec.bare !== undefined ? `--${name} [${spec.value}]` : `--${name} ${spec.value}`;

/**
 * argv with the bare value written out after each flag that has one and was given without
 * a value (at the end, or followed by another flag), so parseArgs reads it like any other.
 */
export function withBareValues(table: FlagTable, argv: readonly string[]): string[] {
  return argv.flatMap((arg, i) => {
    const spec = arg.startsWith("--") && Object.hasOwn(table, arg.slice(2)) ? table[arg.slice(2)] : undefined;
    const bare = spec && !isSwitch(spec) ? spec.bare : undefined;
    const next = argv[i + 1];
    return bare !== undefined && (next === undefined || next.startsWith("-")) ? [arg, bare] : [arg];
  });
}

const defaultOf = (spec: FlagSpec): string | undefined =>
  isSwitch(spec) ? undefined : (spec.defaultText ?? spec.default);

/** One aligned line per flag: syntax, description, default or "required". */
export function flagHelp(table: FlagTable): string[] {
  const rows = Object.entries(table).map(([name, spec]) => {
    const dflt = defaultOf(spec);
    const note =
      !isSwitch(spec) && spec.required
        ? " (required)"
        : dflt !== undefined
          ? ` (default: ${dflt === "" ? "none" : dflt})`
          : "";
    return [flagSyntax(name, spec), `${spec.description}${note}`] as const;
  });
  rows.push(["-h, --help", "print this help"]);
  const width = Math.max(...rows.map(([syntax]) => syntax.length));
  return rows.map(([syntax, text]) => `  ${syntax.padEnd(width)}  ${text}`);
}

/** `edgefuse NAME [SYNOPSIS] --required V ... [flags]`: short, and derived, so it cannot drift. */
export function usageLine(command: string, table: FlagTable, synopsis?: string): string {
  const required = Object.entries(table).filter(([, spec]) => !isSwitch(spec) && spec.required);
  const optional = Object.keys(table).length > required.length;
  return [
    "edgefuse",
    command,
    synopsis,
    ...required.map(([name, spec]) => flagSyntax(name, spec)),
    optional ? "[flags]" : undefined,
  ]
    .filter(Boolean)
    .join(" ");
}

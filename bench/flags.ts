/** Flags of one benchmark (`npm run bench -- NAME --flag value …`), each named by its zod schema's keys. */
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";
import { UsageError } from "../core/errors.js";
import { modelCfg } from "../core/paths.js";

/** A cfg of models/cfg by its name (yolov2, yolov2-mini, …), run with seeded synthetic weights. */
export const modelName = z
  .string()
  .refine((name) => /^[\w.-]+$/.test(name) && existsSync(modelCfg(name)), "expected the name of a cfg in models/cfg");

/** Parses `args` as `--key value` for every key of `schema`; a wrong or unknown flag is a one-line UsageError. */
export function benchFlags<S extends z.ZodObject>(bench: string, args: readonly string[], schema: S): z.output<S> {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, { type: "string" as const }]));
    values = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(
      `bench ${bench}: ${(err as Error).message} (flags: ${Object.keys(schema.shape)
        .map((k) => `--${k}`)
        .join(", ")})`,
    );
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`bench ${bench}: --${issue.path.join(".")}: ${issue.message}`);
  }
  return parsed.data;
}

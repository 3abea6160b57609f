/** The flags of `npm run oracle`, validated. */
import { parseArgs } from "node:util";
import { z } from "zod";

export const USAGE = "npm run oracle -- --cfg FILE --seed N --image FILE --out DIR";

const flagsSchema = z.object({
  cfg: z.string({ error: "is required" }).min(1, "is empty"),
  seed: z
    .string({ error: "is required" })
    .regex(/^\d+$/, "expected a non-negative integer")
    .transform(Number)
    .pipe(z.number().max(2 ** 32 - 1, "is over 2^32 - 1")),
  image: z.string({ error: "is required" }).min(1, "is empty"),
  out: z.string({ error: "is required" }).min(1, "is empty"),
});

/** argv as flag values, still unchecked: an unknown flag or a missing value throws here. */
function readFlagValues(argv: string[]): unknown {
  try {
    const str = { type: "string" } as const;
    return parseArgs({ args: argv, options: { cfg: str, seed: str, image: str, out: str }, strict: true }).values;
  } catch (err) {
    throw new Error(`${(err as Error).message} (usage: ${USAGE})`);
  }
}

/** The request from argv, or a one-line message naming the flag at fault. */
export function parseOracleFlags(argv: string[]): z.output<typeof flagsSchema> {
  const parsed = flagsSchema.safeParse(readFlagValues(argv));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`--${String(issue.path[0])}: ${issue.message} (usage: ${USAGE})`);
  }
  return parsed.data;
}

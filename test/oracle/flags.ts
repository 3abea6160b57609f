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

/** The request from argv, or a one-line message naming the flag at fault. */
export function parseOracleFlags(argv: string[]): z.output<typeof flagsSchema> {
  let values;
  try {
    const str = { type: "string" } as const;
    values = parseArgs({ args: argv, options: { cfg: str, seed: str, image: str, out: str }, strict: true }).values;
  } catch (err) {
    throw new Error(`${(err as Error).message} (usage: ${USAGE})`);
  }
  const parsed = flagsSchema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`--${String(issue.path[0])}: ${issue.message} (usage: ${USAGE})`);
  }
  return parsed.data;
}

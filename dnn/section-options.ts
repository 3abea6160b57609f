/**
 * The options of each cfg section darknet networks use here: a cfg value is a string;
 * these schemas give it a type and a range, and parseSection reports the first that
 * does not fit with the file and line it came from.
 */
import { z } from "zod";
import { CfgError } from "../core/errors.js";
import type { CfgSection } from "./cfg.js";
import { ACTIVATIONS } from "./layers.js";

// Beyond 2^53 − 1 a double no longer holds every integer: 99999999999999999999999 would
// read as 1e23, so such a value is refused rather than rounded.
const int = z
  .string()
  .regex(/^[+-]?\d+$/, "expected an integer")
  .transform(Number)
  .refine(Number.isSafeInteger, `must be an integer within ±${Number.MAX_SAFE_INTEGER}`);
const positive = int.refine((n) => n > 0, "must be > 0");
const nonNegative = int.refine((n) => n >= 0, "must be ≥ 0");
const flag = int.refine((n) => n === 0 || n === 1, "must be 0 or 1").transform((n) => n === 1);
const float = z
  .string()
  .regex(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, "expected a number")
  .transform(Number)
  .refine(Number.isFinite, "must be a finite number"); // 1e999 reads as Infinity
const floatList = z
  .string()
  .transform((s) => s.split(",").filter((p) => p !== ""))
  .pipe(z.array(float).min(1, "expected a comma-separated list of numbers"));
const intList = z
  .string()
  .transform((s) => s.split(",").filter((p) => p !== ""))
  .pipe(z.array(int).min(1, "expected a comma-separated list of integers"));
// darknet's default activation is logistic (parse.c); real cfgs always name one.
const activation = z.enum(ACTIVATIONS).default("logistic");

const sectionSchemas = {
  net: z.object({ width: positive, height: positive, channels: positive }),
  convolutional: z.object({
    filters: positive,
    size: positive,
    stride: positive.default(1),
    pad: flag.default(false),
    padding: nonNegative.optional(),
    groups: positive.default(1),
    batch_normalize: flag.default(false),
    activation,
  }),
  maxpool: z.object({ stride: positive.default(1), size: positive.optional(), padding: nonNegative.optional() }),
  avgpool: z.object({}),
  route: z.object({ layers: intList }),
  reorg: z.object({ stride: positive.default(1), reverse: flag.default(false), extra: nonNegative.default(0) }),
  connected: z.object({ output: positive, batch_normalize: flag.default(false), activation }),
  dropout: z.object({ probability: float.default(0.5) }),
  softmax: z.object({ groups: positive.default(1), temperature: float.default(1), tree: z.string().optional() }),
  region: z.object({
    anchors: floatList,
    classes: positive,
    coords: positive.default(4),
    num: positive.default(1),
    softmax: flag.default(false),
    background: flag.default(false),
    tree: z.string().optional(),
    map: z.string().optional(),
  }),
} as const;
export type SectionType = keyof typeof sectionSchemas;

export function parseSection<T extends SectionType>(
  file: string,
  section: CfgSection,
  type: T,
): z.output<(typeof sectionSchemas)[T]> {
  const raw = Object.fromEntries([...section.options].map(([k, v]) => [k, v.value]));
  const result = sectionSchemas[type].safeParse(raw);
  if (result.success) return result.data as z.output<(typeof sectionSchemas)[T]>;
  const issue = result.error.issues[0]!;
  const key = issue.path[0] === undefined ? undefined : String(issue.path[0]);
  const opt = key === undefined ? undefined : section.options.get(key);
  const problem =
    opt === undefined && key !== undefined
      ? `missing required key in [${type}]`
      : `${issue.message}${opt ? `, got '${opt.value}'` : ""}`;
  throw new CfgError(file, opt?.line ?? section.line, key, problem);
}

export const isSectionType = (t: string): t is SectionType => Object.hasOwn(sectionSchemas, t);

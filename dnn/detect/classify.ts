/** A classifier's answer: the k most probable classes, as darknet's predict_classifier prints (utils.c top_k). */
import { InputError, ShapeError, UsageError } from "../../core/errors.js";
import type { Classification } from "./detection.js";

export const DEFAULT_TOP_K = 5;

/**
 * Top-k of a softmax output. Ties keep the lower class id first; k larger than the
 * class count returns every class.
 */
export function topK(
  probabilities: Float32Array,
  names: readonly string[],
  k: number = DEFAULT_TOP_K,
): Classification[] {
  if (!Number.isInteger(k) || k < 1) throw new UsageError(`top-k must be a positive integer, got ${k}`);
  if (probabilities.length !== names.length) {
    throw new ShapeError(`classifier output has ${probabilities.length} values, there are ${names.length} class names`);
  }
  const ids = Array.from(probabilities.keys());
  ids.sort((a, b) => probabilities[b]! - probabilities[a]! || a - b);
  return ids
    .slice(0, k)
    .map((classId) => ({ classId, className: names[classId]!, probability: probabilities[classId]! }));
}

/**
 * A classifier's answer named by a names file of the client's own: the source names
 * classes only by the defaults (COCO, VOC, else "class N"), class ids are what count.
 */
export function nameClasses<T extends { classId: number; className: string }>(
  answers: readonly T[],
  names: readonly string[],
  source: string,
): T[] {
  return answers.map((a) => {
    const className = names[a.classId];
    if (className === undefined)
      throw new InputError(source, `has ${names.length} class names, the answer has class ${a.classId}`);
    return { ...a, className };
  });
}

/**
 * Batch norm folded into weights and bias, the form every compute op takes.
 *
 * darknet at inference (src/blas.c normalize_cpu, scale_bias, add_bias):
 *   y = scale · (x − mean) / (sqrt(variance) + 1e-6) + bias
 * Note darknet adds its epsilon after the square root, not inside it.
 * With a = scale / (sqrt(variance) + 1e-6):  y = (a·w) ∗ x + (bias − a·mean).
 */
import type { RawParams } from "./weights.js";

export interface FoldedParams {
  /** conv: [outC][inC/groups][k][k]; connected: [outputs][inputs]. */
  readonly weights: Float32Array;
  readonly bias: Float32Array;
}

export const DARKNET_BN_EPSILON = 0.000001;

/** Folds in place: `raw.weights` is reused as the folded weights, so no copy of a big layer is made. */
export function foldBatchNorm(raw: RawParams): FoldedParams {
  if (!raw.bn) return { weights: raw.weights, bias: raw.biases };
  const n = raw.biases.length;
  const per = raw.weights.length / n;
  const bias = new Float32Array(n);
  for (let o = 0; o < n; o++) {
    const a = raw.bn.scales[o]! / (Math.sqrt(raw.bn.variance[o]!) + DARKNET_BN_EPSILON);
    const row = raw.weights.subarray(o * per, (o + 1) * per);
    for (let i = 0; i < per; i++) row[i] *= a;
    bias[o] = raw.biases[o]! - a * raw.bn.mean[o]!;
  }
  return { weights: raw.weights, bias };
}

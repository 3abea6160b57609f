/**
 * A float image in darknet's layout (src/image.h `image`): planar C×H×W, channel-major,
 * values 0..1, index = c·H·W + y·W + x. This is what the network takes as input, so
 * pre-processing stays in this layout from decode to letterbox.
 */
import { ShapeError } from "../../core/errors.js";

export interface FloatImage {
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly data: Float32Array;
}

export function makeImage(w: number, h: number, c: number, fill = 0): FloatImage {
  if (!Number.isInteger(w) || !Number.isInteger(h) || !Number.isInteger(c) || w < 1 || h < 1 || c < 1) {
    throw new ShapeError(`image size must be positive integers, got ${c}×${h}×${w} (c×h×w)`);
  }
  const data = new Float32Array(c * h * w);
  if (fill !== 0) data.fill(fill);
  return { c, h, w, data };
}

/** Wrap an existing C×H×W buffer, checking that its length fits the shape. */
export function imageFrom(data: Float32Array, w: number, h: number, c: number): FloatImage {
  if (data.length !== c * h * w)
    throw new ShapeError(`image buffer holds ${data.length} floats, ${c}×${h}×${w} needs ${c * h * w}`);
  return { c, h, w, data };
}

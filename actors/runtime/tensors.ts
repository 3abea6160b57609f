/** Cutting a C×H×W tensor for tasks and putting task outputs back together. */
import { ShapeError } from "../../core/errors.js";
import { type Shape, shapeSize, shapeText } from "../../dnn/layers.js";
import type { Rect, Send } from "./schedule.js";

/**
 * Does a frame's shape (darknet order C, H, W) say `shape`? Dimension by dimension: a
 * tensor of the right size in another layout (H, W, C) is another tensor.
 */
export const isShape = (dims: readonly number[], shape: Shape): boolean =>
  dims.length === 3 && dims[0] === shape.c && dims[1] === shape.h && dims[2] === shape.w;

/** Channels [c0, c1) × rows [y0, y1) × columns [x0, x1) of a tensor, copied. */
export function crop(x: Float32Array, shape: Shape, rect: Rect): Float32Array {
  const h = rect.y1 - rect.y0;
  const w = rect.x1 - rect.x0;
  const out = new Float32Array(shape.c * h * w);
  for (let c = 0; c < shape.c; c++) {
    for (let y = 0; y < h; y++) {
      const from = c * shape.h * shape.w + (rect.y0 + y) * shape.w + rect.x0;
      out.set(x.subarray(from, from + w), (c * h + y) * w);
    }
  }
  return out;
}

/** Writes `tile` (C × rect) into `into` (C × shape) at `rect`. */
export function paste(into: Float32Array, shape: Shape, tile: Float32Array, rect: Rect): void {
  const h = rect.y1 - rect.y0;
  const w = rect.x1 - rect.x0;
  if (tile.length !== shape.c * h * w)
    throw new ShapeError(`tile of ${tile.length} floats does not fit ${shape.c}×${h}×${w}`);
  for (let c = 0; c < shape.c; c++) {
    for (let y = 0; y < h; y++) {
      into.set(
        tile.subarray((c * h + y) * w, (c * h + y + 1) * w),
        c * shape.h * shape.w + (rect.y0 + y) * shape.w + rect.x0,
      );
    }
  }
}

/** What the source sends one task, cut from the stage's input. */
export function cutForSend(x: Float32Array, shape: Shape, send: Send): Float32Array {
  if (x.length !== shapeSize(shape))
    throw new ShapeError(`stage input has ${x.length} floats, expected ${shapeText(shape)}`);
  const hw = shape.h * shape.w;
  switch (send.kind) {
    case "all":
      return x;
    case "channels":
      return x.subarray(send.c0 * hw, send.c1 * hw);
    case "allBut": {
      const out = new Float32Array(x.length - (send.c1 - send.c0) * hw);
      out.set(x.subarray(0, send.c0 * hw), 0);
      out.set(x.subarray(send.c1 * hw), send.c0 * hw);
      return out;
    }
    case "region":
      return crop(x, shape, send.rect);
  }
}

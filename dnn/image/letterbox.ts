/**
 * darknet's pre-processing, reproduced float-for-float so the network sees the same
 * input darknet would (src/image.c resize_image, embed_image, letterbox_image).
 *
 * Hand-written on purpose: darknet's resize is its own two-pass bilinear filter with
 * corner-aligned scales ((in−1)/(out−1)) and a quirk on the last row/column; generic
 * resizers (sharp, canvas, pica) sample at pixel centres and filter differently, which
 * shifts every activation downstream. Each step rounds to float32 as darknet's C does.
 */
import { ShapeError } from "../../core/errors.js";
import type { Shape } from "../layers.js";
import { type FloatImage, makeImage } from "./image.js";

const f32 = Math.fround;

/** How an image is brought to the network's input size. */
export const FIT_MODES = ["letterbox", "resize"] as const;
export type FitMode = (typeof FIT_MODES)[number];

/** Where the scaled image sits inside the network input. */
export interface LetterboxGeometry {
  /** Scaled image size inside the canvas. */
  readonly w: number;
  readonly h: number;
  /** Offset of the scaled image in the canvas (darknet: (net − new) / 2, integer). */
  readonly dx: number;
  readonly dy: number;
}

/**
 * The scaled size and offset letterbox_image uses (and correct_region_boxes undoes):
 * fit the longer side, integer-divide the other, centre with integer offsets.
 */
export function letterboxGeometry(imW: number, imH: number, netW: number, netH: number): LetterboxGeometry {
  let w: number;
  let h: number;
  // darknet compares float ratios: ((float)w/im.w) < ((float)h/im.h)
  if (f32(netW / imW) < f32(netH / imH)) {
    w = netW;
    h = Math.trunc((imH * netW) / imW);
  } else {
    h = netH;
    w = Math.trunc((imW * netH) / imH);
  }
  return { w, h, dx: Math.trunc((netW - w) / 2), dy: Math.trunc((netH - h) / 2) };
}

/** darknet resize_image: horizontal pass into a w×im.h buffer, then vertical pass. */
export function resizeImage(im: FloatImage, w: number, h: number): FloatImage {
  const resized = makeImage(w, h, im.c);
  const part = makeImage(w, im.h, im.c);
  // (float)(im.w - 1) / (w - 1); a 1-wide output only ever takes the last column, and a
  // 1-high output only row 0 (darknet would compute 0·∞ there, we pin it to 0).
  const wScale = w > 1 ? f32((im.w - 1) / (w - 1)) : 0;
  const hScale = h > 1 ? f32((im.h - 1) / (h - 1)) : 0;
  const src = im.data;
  const mid = part.data;
  const out = resized.data;
  for (let k = 0; k < im.c; k++) {
    for (let r = 0; r < im.h; r++) {
      const row = k * im.h * im.w + r * im.w;
      const dst = k * im.h * w + r * w;
      for (let c = 0; c < w; c++) {
        if (c === w - 1 || im.w === 1) {
          mid[dst + c] = src[row + im.w - 1]!;
        } else {
          const sx = f32(c * wScale);
          const ix = Math.trunc(sx);
          const dx = f32(sx - ix);
          mid[dst + c] = f32(f32(f32(1 - dx) * src[row + ix]!) + f32(dx * src[row + ix + 1]!));
        }
      }
    }
  }
  for (let k = 0; k < im.c; k++) {
    for (let r = 0; r < h; r++) {
      const sy = f32(r * hScale);
      const iy = Math.trunc(sy);
      const dy = f32(sy - iy);
      const top = k * im.h * w + iy * w;
      const dst = k * h * w + r * w;
      const wTop = f32(1 - dy);
      for (let c = 0; c < w; c++) out[dst + c] = f32(wTop * mid[top + c]!);
      // darknet skips the lower neighbour on the last row (and for 1-high inputs).
      if (r === h - 1 || im.h === 1) continue;
      for (let c = 0; c < w; c++) out[dst + c] = f32(out[dst + c]! + f32(dy * mid[top + w + c]!));
    }
  }
  return resized;
}

/** darknet embed_image: copy `source` into `dest` at (dx, dy); no clipping, as in darknet. */
export function embedImage(source: FloatImage, dest: FloatImage, dx: number, dy: number): void {
  if (source.c !== dest.c || dx < 0 || dy < 0 || dx + source.w > dest.w || dy + source.h > dest.h) {
    throw new ShapeError(
      `cannot embed ${source.c}×${source.h}×${source.w} at (${dx}, ${dy}) into ${dest.c}×${dest.h}×${dest.w}`,
    );
  }
  for (let k = 0; k < source.c; k++) {
    for (let y = 0; y < source.h; y++) {
      const from = k * source.h * source.w + y * source.w;
      const to = k * dest.h * dest.w + (dy + y) * dest.w + dx;
      dest.data.set(source.data.subarray(from, from + source.w), to);
    }
  }
}

/** darknet letterbox_image: scale preserving aspect, centre on a canvas of 0.5. */
export function letterboxImage(im: FloatImage, w: number, h: number): FloatImage {
  const g = letterboxGeometry(im.w, im.h, w, h);
  // darknet would embed nothing and see a grey input: an image this thin is refused instead.
  if (g.w < 1 || g.h < 1)
    throw new ShapeError(`a ${im.w}×${im.h} image letterboxes to ${g.w}×${g.h} in a ${w}×${h} input: too thin to see`);
  const resized = resizeImage(im, g.w, g.h);
  const boxed = makeImage(w, h, im.c, 0.5);
  embedImage(resized, boxed, g.dx, g.dy);
  return boxed;
}

/**
 * The network input for an image: darknet's detector letterboxes; `resize` stretches
 * to the input size (darknet's older classifier path). Channels must match the net.
 */
export function networkInput(im: FloatImage, input: Shape, mode: FitMode = "letterbox"): Float32Array {
  if (im.c !== input.c) throw new ShapeError(`image has ${im.c} channels, the network input takes ${input.c}`);
  const fitted = mode === "letterbox" ? letterboxImage(im, input.w, input.h) : resizeImage(im, input.w, input.h);
  return fitted.data;
}

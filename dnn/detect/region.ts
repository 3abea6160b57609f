/**
 * Detections from a YOLOv2 region layer's output, following pjreddie/darknet:
 * region_layer.c get_region_detections / get_region_box / correct_region_boxes,
 * box.c do_nms_sort, image.c draw_detections (pixel box and its clamping).
 *
 * The input is the region layer's OUTPUT, i.e. darknet's in-place layout after its
 * activations: per anchor n a block of (coords + 1 + classes) planes of H×W, with x, y
 * and objectness through the logistic and the classes through softmax.
 */
import { ShapeError, UsageError } from "../../core/errors.js";
import { type FitMode, letterboxGeometry } from "../image/letterbox.js";
import type { RegionLayer } from "../layers.js";
import type { Detection, NormalizedBox } from "./detection.js";

const f32 = Math.fround;

export interface RegionOptions {
  /** darknet detector test's default -thresh. */
  readonly thresh: number;
  /** darknet detector test's default nms. */
  readonly nms: number;
  /** How the image was fitted to the network input; boxes are mapped back accordingly. */
  readonly fit: FitMode;
}
export const REGION_DEFAULTS = { thresh: 0.24, nms: 0.45, fit: "letterbox" } as const satisfies RegionOptions;

export interface Size {
  readonly w: number;
  readonly h: number;
}

/** darknet's `box`: centre and size as fractions of the image (after correctRegionBoxes, the original image's); not clipped. */
export interface CentreBox {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** darknet's `detection` for one (cell, anchor), before it becomes per-class results. */
export interface RawDetection {
  bbox: CentreBox;
  objectness: number;
  /** Per class: objectness × class probability where above thresh, else 0. */
  prob: Float32Array;
}

/** Everything but the layer geometry: one call from the engine after the forward pass. */
export function detectRegion(
  layer: RegionLayer,
  output: Float32Array,
  image: Size,
  network: Size,
  names: readonly string[],
  options: Partial<RegionOptions> = {},
): Detection[] {
  const opts = { ...REGION_DEFAULTS, ...options };
  checkOptions(opts);
  if (names.length !== layer.classes) {
    throw new ShapeError(
      `region layer ${layer.index} has ${layer.classes} classes, ${names.length} class names were given`,
    );
  }
  const dets = regionDetections(layer, output, opts.thresh);
  correctRegionBoxes(dets, image, network, opts.fit);
  doNmsSort(dets, layer.classes, opts.nms);
  return toDetections(dets, image, names, opts.thresh);
}

function checkOptions(o: RegionOptions): void {
  if (!(o.thresh >= 0 && o.thresh < 1)) throw new UsageError(`detection thresh must be in [0, 1), got ${o.thresh}`);
  if (!(o.nms >= 0 && o.nms <= 1)) throw new UsageError(`nms threshold must be in [0, 1], got ${o.nms}`);
}

/** darknet get_region_detections (no tree, no background, batch 1), boxes relative to the network input. */
export function regionDetections(layer: RegionLayer, output: Float32Array, thresh: number): RawDetection[] {
  const { w, h } = layer.output;
  const { num, classes, coords } = layer;
  if (coords !== 4) throw new ShapeError(`region layer ${layer.index}: coords=${coords}, only 4 is supported`);
  const expected = num * (coords + 1 + classes) * w * h;
  if (output.length !== expected) {
    throw new ShapeError(
      `region layer ${layer.index}: output has ${output.length} floats, ${num}×(${coords}+1+${classes})×${h}×${w} = ${expected} expected`,
    );
  }
  const plane = w * h;
  // darknet entry_index(l, 0, n·w·h + i, entry) = n·w·h·(coords+classes+1) + entry·w·h + i
  const entry = (n: number, i: number, e: number) => n * plane * (coords + classes + 1) + e * plane + i;
  const dets: RawDetection[] = [];
  for (let i = 0; i < plane; i++) {
    const row = Math.trunc(i / w);
    const col = i % w;
    for (let n = 0; n < num; n++) {
      const scale = output[entry(n, i, coords)]!;
      const objectness = scale > thresh ? scale : 0;
      const prob = new Float32Array(classes);
      if (objectness) {
        for (let j = 0; j < classes; j++) {
          const p = f32(scale * output[entry(n, i, coords + 1 + j)]!);
          prob[j] = p > thresh ? p : 0;
        }
      }
      dets.push({ bbox: regionBox(output, layer.anchors, n, entry(n, i, 0), col, row, w, h, plane), objectness, prob });
    }
  }
  return dets;
}

/** darknet get_region_box: cell offset + sigmoid(x), anchor × exp(w), as fractions of the grid. */
function regionBox(
  x: Float32Array,
  biases: readonly number[],
  n: number,
  index: number,
  i: number,
  j: number,
  w: number,
  h: number,
  stride: number,
): CentreBox {
  return {
    x: (i + x[index]!) / w,
    y: (j + x[index + stride]!) / h,
    w: (Math.exp(x[index + 2 * stride]!) * biases[2 * n]!) / w,
    h: (Math.exp(x[index + 3 * stride]!) * biases[2 * n + 1]!) / h,
  };
}

/**
 * darknet correct_region_boxes with relative = 1: undo the letterbox so boxes are
 * fractions of the original image. Note darknet's offset here is (net − new)/2 in
 * floating point, while letterbox_image embeds at the integer (net − new)/2.
 */
export function correctRegionBoxes(dets: RawDetection[], image: Size, network: Size, fit: FitMode): void {
  if (fit === "resize") return; // the image filled the input; relative boxes already fit it
  const g = letterboxGeometry(image.w, image.h, network.w, network.h);
  for (const d of dets) {
    const b = d.bbox;
    d.bbox = {
      x: (b.x - (network.w - g.w) / 2 / network.w) / (g.w / network.w),
      y: (b.y - (network.h - g.h) / 2 / network.h) / (g.h / network.h),
      w: b.w * (network.w / g.w),
      h: b.h * (network.h / g.h),
    };
  }
}

/** darknet box.c overlap / box_intersection / box_union / box_iou on centre boxes. */
function overlap(x1: number, w1: number, x2: number, w2: number): number {
  const left = Math.max(x1 - w1 / 2, x2 - w2 / 2);
  const right = Math.min(x1 + w1 / 2, x2 + w2 / 2);
  return right - left;
}
export function boxIou(a: CentreBox, b: CentreBox): number {
  const w = overlap(a.x, a.w, b.x, b.w);
  const h = overlap(a.y, a.h, b.y, b.h);
  const inter = w < 0 || h < 0 ? 0 : w * h;
  return inter / (a.w * a.h + b.w * b.h - inter);
}

/**
 * darknet do_nms_sort: drop detections with no objectness, then per class sort by that
 * class's probability and zero it in every later box overlapping by more than `thresh`.
 * Sorts in place; the stable sort stands in for qsort, whose order of ties is unspecified.
 */
export function doNmsSort(dets: RawDetection[], classes: number, thresh: number): void {
  const kept = dets.filter((d) => d.objectness !== 0);
  dets.length = 0;
  dets.push(...kept);
  for (let k = 0; k < classes; k++) {
    dets.sort((a, b) => b.prob[k]! - a.prob[k]!);
    for (let i = 0; i < dets.length; i++) {
      if (dets[i]!.prob[k] === 0) continue;
      const a = dets[i]!.bbox;
      for (let j = i + 1; j < dets.length; j++) {
        if (boxIou(a, dets[j]!.bbox) > thresh) dets[j]!.prob[k] = 0;
      }
    }
  }
}

/**
 * One Detection per (box, class) whose probability is above thresh, as draw_detections
 * prints them, most probable first. The pixel box is draw_detections': truncated to int,
 * then clamped to the image; the normalized box is the same corners as fractions of the
 * image, clipped to [0, 1] (darknet's box may reach past the image's edges).
 */
export function toDetections(
  dets: readonly RawDetection[],
  image: Size,
  names: readonly string[],
  thresh: number,
): Detection[] {
  const out: Detection[] = [];
  for (const d of dets) {
    const b = d.bbox;
    // draw_detections clamps left/top at 0 and right/bottom at size−1; draw_box then
    // clamps every edge into the image, which we do here so the box is always valid.
    const left = clamp(Math.trunc((b.x - b.w / 2) * image.w), image.w - 1);
    const right = clamp(Math.trunc((b.x + b.w / 2) * image.w), image.w - 1);
    const top = clamp(Math.trunc((b.y - b.h / 2) * image.h), image.h - 1);
    const bottom = clamp(Math.trunc((b.y + b.h / 2) * image.h), image.h - 1);
    const normalized: NormalizedBox = {
      left: clamp(b.x - b.w / 2, 1),
      top: clamp(b.y - b.h / 2, 1),
      right: clamp(b.x + b.w / 2, 1),
      bottom: clamp(b.y + b.h / 2, 1),
    };
    for (let j = 0; j < d.prob.length; j++) {
      const probability = d.prob[j]!;
      if (!(probability > thresh)) continue;
      out.push({
        classId: j,
        className: names[j]!,
        probability,
        box: { left, top, right, bottom },
        normalized,
      });
    }
  }
  return out.sort((a, b) => b.probability - a.probability || a.classId - b.classId);
}

const clamp = (v: number, max: number) => Math.min(max, Math.max(0, v));

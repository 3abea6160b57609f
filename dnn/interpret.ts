/**
 * From the last layer's output to what a user wants: detections for region nets,
 * the top classes for classifiers. Shared by `edgefuse run` and the source actor.
 */
import { ShapeError } from "../core/errors.js";
import { topK, DEFAULT_TOP_K } from "./detect/classify.js";
import type { Classification, Detection } from "./detect/detection.js";
import { classNames } from "./detect/names.js";
import { detectRegion, REGION_DEFAULTS, type Size } from "./detect/region.js";
import type { FitMode } from "./image/letterbox.js";
import type { Network } from "./network.js";

export interface InterpretOptions {
  readonly thresh: number;
  readonly namesFile?: string;
  /** The class names themselves (a source given --names); before namesFile and the defaults. */
  readonly names?: readonly string[];
  readonly topK: number;
  readonly fit: FitMode;
}
export const DEFAULT_INTERPRET_OPTIONS = {
  thresh: REGION_DEFAULTS.thresh,
  topK: DEFAULT_TOP_K,
  fit: "letterbox",
} satisfies InterpretOptions;

export type Interpretation =
  | { readonly kind: "detections"; readonly detections: Detection[]; readonly classes: number }
  | { readonly kind: "classes"; readonly detections: Classification[] };

function namesFor(classes: number, opts: Partial<InterpretOptions>): string[] {
  if (!opts.names) return classNames(classes, opts.namesFile);
  if (opts.names.length !== classes)
    throw new ShapeError(`${opts.names.length} class names were given, the network has ${classes} classes`);
  return [...opts.names];
}

/**
 * `image`: the original image's size, so boxes come back in its pixels; without one
 * (a raw tensor input) boxes are in network-input pixels.
 */
export function interpret(
  network: Network,
  output: Float32Array,
  image: Size | undefined,
  options: Partial<InterpretOptions> = {},
): Interpretation {
  const opts = { ...DEFAULT_INTERPRET_OPTIONS, ...options };
  const last = network.layers.at(-1)!;
  const netSize = { w: network.input.w, h: network.input.h };
  if (last.kind === "region") {
    const names = namesFor(last.classes, opts);
    return {
      kind: "detections",
      classes: last.classes,
      detections: detectRegion(last, output, image ?? netSize, netSize, names, { thresh: opts.thresh, fit: opts.fit }),
    };
  }
  if (last.kind === "softmax" || last.kind === "connected" || last.kind === "avgpool") {
    const names = namesFor(output.length, opts);
    return { kind: "classes", detections: topK(output, names, opts.topK) };
  }
  throw new ShapeError(
    `cannot interpret a network ending in a ${last.kind} layer (expected region, softmax or connected)`,
  );
}

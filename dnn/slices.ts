/**
 * darknet layers as compute ops, whole or partitioned:
 * - output-channel cut (LOP): filters [c0, c1) with their bias → finished outputs;
 * - input-channel cut (LIP): every filter's weights for input channels [c0, c1),
 *   no bias, no activation → partial sums that `mergePartials` adds up;
 * - spatial tile (FTP): the whole layer with explicit per-side padding.
 *
 * Cutting the weights (`cutParams`) and building the op (`cutOp`) are separate so a
 * device can receive only its cut of the weights (a shard) and build the same op.
 */
import { ShapeError } from "../core/errors.js";
import type { FoldedParams } from "./fold.js";
import type { Layer } from "./layers.js";
import { type ComputeOp, type Pads, uniformPads } from "./ops.js";
import { isWeighted } from "./layer-traits.js";

export type Cut =
  | { readonly kind: "whole" }
  | { readonly kind: "output"; readonly c0: number; readonly c1: number }
  | { readonly kind: "input"; readonly c0: number; readonly c1: number };
export const WHOLE: Cut = { kind: "whole" };

/** Weights (and bias, except for input cuts) already cut to one part. */
export interface CutParams {
  readonly weights: Float32Array;
  readonly bias?: Float32Array;
}

/** darknet maxpool puts padding/2 before and the rest after (forward_maxpool_layer's −pad/2 offset). */
export const maxpoolPads = (padding: number): Pads => {
  const before = Math.floor(padding / 2);
  return { top: before, left: before, bottom: padding - before, right: padding - before };
};

function checkCut(layer: Layer, cut: Cut): void {
  if (cut.kind === "whole") return;
  if (!isWeighted(layer))
    throw new ShapeError(`layer ${layer.index} (${layer.kind}) has no ${cut.kind} channels to slice`);
  if (layer.kind === "convolutional" && layer.groups !== 1) {
    // A cut of a grouped conv would see only its groups' channels; none of the supported nets needs that.
    throw new ShapeError(`layer ${layer.index}: ${cut.kind} slices of grouped convolutions are not supported`);
  }
  const n = cut.kind === "output" ? layer.output.c : layer.input.c;
  const { c0, c1 } = cut;
  if (!(Number.isInteger(c0) && Number.isInteger(c1) && 0 <= c0 && c0 < c1 && c1 <= n)) {
    throw new ShapeError(`layer ${layer.index}: ${cut.kind}-channel slice [${c0}, ${c1}) is not within [0, ${n})`);
  }
}

/** Input elements per input channel for each output: k² for conv, H·W for connected (darknet flattens C×H×W). */
const perInputChannel = (layer: Layer) =>
  layer.kind === "convolutional" ? layer.size * layer.size : layer.input.h * layer.input.w;

/** The part of a layer's (folded) parameters that one cut needs. */
export function cutParams(layer: Layer, params: FoldedParams, cut: Cut): CutParams {
  checkCut(layer, cut);
  if (cut.kind === "whole") return params;
  const outs = layer.output.c;
  const per = params.weights.length / outs;
  if (cut.kind === "output") {
    return { weights: params.weights.subarray(cut.c0 * per, cut.c1 * per), bias: params.bias.subarray(cut.c0, cut.c1) };
  }
  const k = perInputChannel(layer);
  const [i0, i1] = [cut.c0 * k, cut.c1 * k];
  const weights = new Float32Array(outs * (i1 - i0));
  for (let o = 0; o < outs; o++) weights.set(params.weights.subarray(o * per + i0, o * per + i1), o * (i1 - i0));
  return { weights };
}

/** The op for one cut of a layer, from weights already cut; `pads` overrides the layer's own (tiles). */
export function cutOp(layer: Layer, cut: Cut, params: CutParams | undefined, pads?: Pads): ComputeOp {
  checkCut(layer, cut);
  const partial = cut.kind === "input";
  const need = (): CutParams => {
    if (!params) throw new ShapeError(`layer ${layer.index} (${layer.kind}) needs weights`);
    return params;
  };
  switch (layer.kind) {
    case "convolutional": {
      const p = need();
      return {
        kind: "conv",
        inC: cut.kind === "input" ? cut.c1 - cut.c0 : layer.input.c,
        outC: cut.kind === "output" ? cut.c1 - cut.c0 : layer.filters,
        size: layer.size,
        stride: layer.stride,
        groups: layer.groups,
        pads: pads ?? uniformPads(layer.pad),
        weights: p.weights,
        bias: partial ? undefined : p.bias,
        activation: partial ? "linear" : layer.activation,
      };
    }
    case "connected": {
      const p = need();
      const hw = layer.input.h * layer.input.w;
      return {
        kind: "dense",
        inputs: cut.kind === "input" ? (cut.c1 - cut.c0) * hw : layer.stats.inputs,
        outputs: cut.kind === "output" ? cut.c1 - cut.c0 : layer.output.c,
        weights: p.weights,
        bias: partial ? undefined : p.bias,
        activation: partial ? "linear" : layer.activation,
      };
    }
    case "maxpool":
      return { kind: "maxpool", size: layer.size, stride: layer.stride, pads: pads ?? maxpoolPads(layer.padding) };
    case "avgpool":
      return { kind: "avgpool" };
    default:
      throw new ShapeError(`layer ${layer.index} (${layer.kind}) is not a compute layer`);
  }
}

/** The whole layer as one op; `pads` overrides the layer's own (for tiles). */
export const layerOp = (layer: Layer, params?: FoldedParams, pads?: Pads): ComputeOp =>
  cutOp(layer, WHOLE, params, pads);

/** LOP: output channels [c0, c1), finished (bias + activation). */
export function outputSliceOp(layer: Layer, params: FoldedParams | undefined, c0: number, c1: number): ComputeOp {
  const cut: Cut = { kind: "output", c0, c1 };
  checkCut(layer, cut);
  return cutOp(layer, cut, params && cutParams(layer, params, cut));
}

/** LIP: input channels [c0, c1) → partial sums for every output (no bias, no activation). */
export function inputSliceOp(layer: Layer, params: FoldedParams | undefined, c0: number, c1: number): ComputeOp {
  const cut: Cut = { kind: "input", c0, c1 };
  checkCut(layer, cut);
  return cutOp(layer, cut, params && cutParams(layer, params, cut));
}

/**
 * darknet layers as compute ops, whole or partitioned:
 * - output-channel slice (LOP): filters [c0, c1) with their bias → finished outputs;
 * - input-channel slice (LIP): every filter's weights for input channels [c0, c1),
 *   no bias, no activation → partial sums that `mergePartials` adds up;
 * - spatial tile (FTP): the whole layer with explicit per-side padding.
 */
import { ShapeError } from "../core/errors.js";
import type { FoldedParams } from "./fold.js";
import type { Layer } from "./network.js";
import { type ComputeOp, type Pads, uniformPads } from "./ops.js";

function need(params: FoldedParams | undefined, layer: Layer): FoldedParams {
  if (!params) throw new ShapeError(`layer ${layer.index} (${layer.kind}) needs weights`);
  return params;
}

function checkRange(layer: Layer, c0: number, c1: number, n: number, what: string) {
  if (!(Number.isInteger(c0) && Number.isInteger(c1) && 0 <= c0 && c0 < c1 && c1 <= n)) {
    throw new ShapeError(`layer ${layer.index}: ${what} slice [${c0}, ${c1}) is not within [0, ${n})`);
  }
}

/** darknet maxpool puts padding/2 before and the rest after (forward_maxpool_layer's −pad/2 offset). */
export const maxpoolPads = (padding: number): Pads => {
  const before = Math.floor(padding / 2);
  return { top: before, left: before, bottom: padding - before, right: padding - before };
};

/** The whole layer as one op; `pads` overrides the layer's own (for tiles). */
export function layerOp(layer: Layer, params?: FoldedParams, pads?: Pads): ComputeOp {
  switch (layer.kind) {
    case "convolutional": {
      const p = need(params, layer);
      return {
        kind: "conv", inC: layer.input.c, outC: layer.filters, size: layer.size, stride: layer.stride, groups: layer.groups,
        pads: pads ?? uniformPads(layer.pad), weights: p.weights, bias: p.bias, activation: layer.activation,
      };
    }
    case "maxpool":
      return { kind: "maxpool", size: layer.size, stride: layer.stride, pads: pads ?? maxpoolPads(layer.padding) };
    case "avgpool":
      return { kind: "avgpool" };
    case "connected": {
      const p = need(params, layer);
      return { kind: "dense", inputs: layer.stats.inputs, outputs: layer.output.c, weights: p.weights, bias: p.bias, activation: layer.activation };
    }
    default:
      throw new ShapeError(`layer ${layer.index} (${layer.kind}) is not a compute layer`);
  }
}

/** LOP: output channels [c0, c1) of a conv or connected layer, finished (bias + activation). */
export function outputSliceOp(layer: Layer, params: FoldedParams | undefined, c0: number, c1: number): ComputeOp {
  const op = layerOp(layer, params);
  if (op.kind !== "conv" && op.kind !== "dense") throw new ShapeError(`layer ${layer.index} (${layer.kind}) has no output channels to slice`);
  const n = op.kind === "conv" ? op.outC : op.outputs;
  checkRange(layer, c0, c1, n, "output-channel");
  // A slice of a grouped conv would see only its groups' input channels; none of the supported nets needs that.
  if (op.kind === "conv" && op.groups !== 1) throw new ShapeError(`layer ${layer.index}: output slices of grouped convolutions are not supported`);
  const per = op.weights.length / n;
  const weights = op.weights.subarray(c0 * per, c1 * per);
  const bias = op.bias?.subarray(c0, c1);
  return op.kind === "dense" ? { ...op, outputs: c1 - c0, weights, bias } : { ...op, outC: c1 - c0, weights, bias };
}

/**
 * LIP: input channels [c0, c1) of a conv or connected layer. The result is a partial
 * sum over those channels for every output: no bias, no activation.
 */
export function inputSliceOp(layer: Layer, params: FoldedParams | undefined, c0: number, c1: number): ComputeOp {
  const op = layerOp(layer, params);
  if (op.kind !== "conv" && op.kind !== "dense") throw new ShapeError(`layer ${layer.index} (${layer.kind}) has no input channels to slice`);
  checkRange(layer, c0, c1, layer.input.c, "input-channel");
  if (op.kind === "conv") {
    if (op.groups !== 1) throw new ShapeError(`layer ${layer.index}: input slices of grouped convolutions are not supported`);
    const k2 = op.size * op.size;
    const weights = new Float32Array(op.outC * (c1 - c0) * k2);
    for (let o = 0; o < op.outC; o++) {
      weights.set(op.weights.subarray((o * op.inC + c0) * k2, (o * op.inC + c1) * k2), o * (c1 - c0) * k2);
    }
    return { ...op, inC: c1 - c0, weights, bias: undefined, activation: "linear" };
  }
  // connected: darknet flattens its input C×H×W, so channel range = a contiguous column range.
  const hw = layer.input.h * layer.input.w;
  const [i0, i1] = [c0 * hw, c1 * hw];
  const weights = new Float32Array(op.outputs * (i1 - i0));
  for (let o = 0; o < op.outputs; o++) weights.set(op.weights.subarray(o * op.inputs + i0, o * op.inputs + i1), o * (i1 - i0));
  return { ...op, inputs: i1 - i0, weights, bias: undefined, activation: "linear" };
}

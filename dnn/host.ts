/**
 * Layers that move or normalise data rather than multiply: computed in plain
 * TypeScript on whole tensors (darknet memory order C×H×W), exactly as darknet does.
 */
import { ShapeError } from "../core/errors.js";
import type { Activation, Layer, RegionLayer, Shape, SoftmaxLayer } from "./layers.js";

/** darknet src/reorg_layer.c forward_reorg_layer → reorg_cpu(input, w, h, c, batch, stride, forward=0, output). */
export function reorg(x: Float32Array, input: Shape, stride: number): Float32Array {
  const { c, h, w } = input;
  const out = new Float32Array(x.length);
  const outC = c / (stride * stride);
  for (let k = 0; k < c; k++) {
    const c2 = k % outC;
    const offset = Math.floor(k / outC);
    for (let j = 0; j < h; j++) {
      for (let i = 0; i < w; i++) {
        const inIndex = i + w * (j + h * k);
        const w2 = i * stride + (offset % stride);
        const h2 = j * stride + Math.floor(offset / stride);
        // forward=0 writes out[in_index] = x[out_index]
        out[inIndex] = x[w2 + w * stride * (h2 + h * stride * c2)]!;
      }
    }
  }
  return out;
}

/** Channel-major tensors concatenate by appending (darknet route). */
export function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Channels [c0, c1) of a C×H×W tensor: a view, no copy. */
export function channelSlice(x: Float32Array, shape: Shape, c0: number, c1: number): Float32Array {
  const hw = shape.h * shape.w;
  if (x.length !== shape.c * hw)
    throw new ShapeError(`channelSlice: tensor has ${x.length} floats, shape says ${shape.c * hw}`);
  return x.subarray(c0 * hw, c1 * hw);
}

export function activateInPlace(x: Float32Array, act: Activation): Float32Array {
  switch (act) {
    case "linear":
      break;
    case "leaky":
      for (let i = 0; i < x.length; i++) if (x[i]! < 0) x[i] = 0.1 * x[i]!;
      break;
    case "relu":
      for (let i = 0; i < x.length; i++) if (x[i]! < 0) x[i] = 0;
      break;
    case "logistic":
      for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i]!));
      break;
  }
  return x;
}

/** LIP / FUSE2 merge: sum of partial sums, then bias (folded BN) per channel, then activation. */
export function mergePartials(
  partials: readonly Float32Array[],
  bias: Float32Array,
  activation: Activation,
): Float32Array {
  const first = partials[0];
  if (!first) throw new ShapeError("mergePartials: no partial sums");
  const out = Float32Array.from(first);
  for (const p of partials.slice(1)) {
    if (p.length !== out.length)
      throw new ShapeError(`mergePartials: partial sums differ in size: ${p.length} vs ${out.length}`);
    for (let i = 0; i < out.length; i++) out[i] += p[i]!;
  }
  const hw = out.length / bias.length;
  if (!Number.isInteger(hw))
    throw new ShapeError(`mergePartials: ${out.length} outputs do not split into ${bias.length} channels`);
  for (let c = 0; c < bias.length; c++) {
    const b = bias[c]!;
    for (let i = c * hw; i < (c + 1) * hw; i++) out[i] += b;
  }
  return activateInPlace(out, activation);
}

/** darknet src/blas.c softmax(): subtract the largest, exp(x/temp), normalise. */
function softmaxInto(x: Float32Array, n: number, temp: number, stride: number, out: Float32Array, at: number) {
  let largest = -Infinity;
  for (let i = 0; i < n; i++) largest = Math.max(largest, x[at + i * stride]!);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(x[at + i * stride]! / temp - largest / temp);
    sum += e;
    out[at + i * stride] = e;
  }
  for (let i = 0; i < n; i++) out[at + i * stride]! /= sum;
}

/** darknet softmax layer (forward_softmax_layer without a tree): `groups` independent softmaxes. */
export function softmaxLayer(x: Float32Array, layer: SoftmaxLayer): Float32Array {
  const out = new Float32Array(x.length);
  const n = x.length / layer.groups;
  for (let g = 0; g < layer.groups; g++) softmaxInto(x, n, layer.temperature, 1, out, g * n);
  return out;
}

/**
 * darknet src/region_layer.c forward_region_layer at inference: per anchor, logistic
 * on x, y and objectness, softmax over the classes of each cell (stride w·h).
 */
export function regionLayer(x: Float32Array, layer: RegionLayer): Float32Array {
  const out = Float32Array.from(x);
  const hw = layer.output.h * layer.output.w;
  const per = (layer.coords + 1 + layer.classes) * hw;
  const logistic = (from: number, n: number) => activateInPlace(out.subarray(from, from + n), "logistic");
  for (let n = 0; n < layer.num; n++) {
    const base = n * per;
    logistic(base, 2 * hw);
    logistic(base + layer.coords * hw, hw);
    if (layer.softmax) {
      const classes = base + (layer.coords + 1) * hw;
      for (let s = 0; s < hw; s++) softmaxInto(x, layer.classes, 1, hw, out, classes + s);
    }
  }
  return out;
}

/** Runs a host layer: `outputs` holds earlier layers' outputs (for route), `input` is the previous layer's. */
export function runHostLayer(
  layer: Layer,
  outputs: readonly (Float32Array | undefined)[],
  input: Float32Array,
): Float32Array {
  switch (layer.kind) {
    case "route":
      return concat(
        layer.layers.map((i) => {
          const out = outputs[i];
          if (!out) throw new ShapeError(`route layer ${layer.index}: the output of layer ${i} is not available`);
          return out;
        }),
      );
    case "reorg":
      return reorg(input, layer.input, layer.stride);
    case "softmax":
      return softmaxLayer(input, layer);
    case "region":
      return regionLayer(input, layer);
    default:
      throw new ShapeError(`layer ${layer.index} (${layer.kind}) is not a host layer`);
  }
}

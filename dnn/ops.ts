/**
 * Compute ops: the unit a device runs. A whole darknet layer, an output-channel
 * slice, an input-channel slice (partial sums) or a spatial tile are all the same
 * op kinds with different weights and padding, so every partitioning scheme
 * compiles through one path.
 */
import { ShapeError } from "../core/errors.js";
import type { Activation, Shape } from "./layers.js";

/** Zero (conv) or −∞ (maxpool) padding on each side, in input pixels. */
export interface Pads {
  readonly top: number;
  readonly left: number;
  readonly bottom: number;
  readonly right: number;
}
export const uniformPads = (p: number): Pads => ({ top: p, left: p, bottom: p, right: p });

export interface ConvOp {
  readonly kind: "conv";
  readonly inC: number;
  readonly outC: number;
  readonly size: number;
  readonly stride: number;
  readonly groups: number;
  readonly pads: Pads;
  /** [outC][inC/groups][size][size], batch norm already folded in. */
  readonly weights: Float32Array;
  /** Absent for partial sums: bias and activation come after the sum. */
  readonly bias?: Float32Array;
  readonly activation: Activation;
}

export interface MaxpoolOp {
  readonly kind: "maxpool";
  readonly size: number;
  readonly stride: number;
  readonly pads: Pads;
}

/** darknet avgpool: the mean over the whole map per channel. */
export interface AvgpoolOp {
  readonly kind: "avgpool";
}

/** darknet connected: y = W·flatten(x) (+ bias), W is [outputs][inputs]. */
export interface DenseOp {
  readonly kind: "dense";
  readonly inputs: number;
  readonly outputs: number;
  readonly weights: Float32Array;
  readonly bias?: Float32Array;
  readonly activation: Activation;
}

export type ComputeOp = ConvOp | MaxpoolOp | AvgpoolOp | DenseOp;

/** A chain of ops run as one unit on one device. */
export interface Stage {
  readonly input: Shape;
  readonly ops: readonly ComputeOp[];
}

const spatial = (n: number, before: number, after: number, size: number, stride: number) =>
  Math.floor((n + before + after - size) / stride) + 1;

export function opOutputShape(op: ComputeOp, input: Shape): Shape {
  switch (op.kind) {
    case "conv": {
      if (input.c !== op.inC) throw new ShapeError(`conv: expected ${op.inC} input channels, got ${input.c}`);
      const h = spatial(input.h, op.pads.top, op.pads.bottom, op.size, op.stride);
      const w = spatial(input.w, op.pads.left, op.pads.right, op.size, op.stride);
      if (h < 1 || w < 1)
        throw new ShapeError(`conv: ${op.size}×${op.size} kernel does not fit ${input.h}×${input.w} input`);
      return { c: op.outC, h, w };
    }
    case "maxpool": {
      const h = spatial(input.h, op.pads.top, op.pads.bottom, op.size, op.stride);
      const w = spatial(input.w, op.pads.left, op.pads.right, op.size, op.stride);
      if (h < 1 || w < 1)
        throw new ShapeError(`maxpool: ${op.size}×${op.size} window does not fit ${input.h}×${input.w} input`);
      return { c: input.c, h, w };
    }
    case "avgpool":
      return { c: input.c, h: 1, w: 1 };
    case "dense": {
      const n = input.c * input.h * input.w;
      if (n !== op.inputs) throw new ShapeError(`dense: expected ${op.inputs} inputs, got ${n}`);
      return { c: op.outputs, h: 1, w: 1 };
    }
  }
}

/** Shapes after each op of a stage (index i = output of op i). */
export function stageShapes(stage: Stage): Shape[] {
  const shapes: Shape[] = [];
  let cur = stage.input;
  for (const op of stage.ops) {
    cur = opOutputShape(op, cur);
    shapes.push(cur);
  }
  return shapes;
}

export const stageOutputShape = (stage: Stage): Shape => stageShapes(stage).at(-1) ?? stage.input;

/** Multiplications an op performs on a given input (for speed accounting). */
export function opMults(op: ComputeOp, input: Shape): number {
  if (op.kind === "conv") {
    const out = opOutputShape(op, input);
    return out.c * out.h * out.w * (op.inC / op.groups) * op.size * op.size;
  }
  if (op.kind === "dense") return op.inputs * op.outputs;
  return 0;
}

/**
 * What every compute runtime (runtime.ts) must do, as a suite any backend runs:
 * `runtimeContract("onnxruntime", () => onnxRuntime())`. Each op is checked against a
 * direct transcription of darknet's loops (below), on small random inputs, with the
 * padding shapes FTP tiles and channel slices use (uneven pads, no bias for partial sums).
 */
import { describe, expect, it } from "vitest";
import { ShapeError } from "../core/errors.js";
import type { Activation, Shape } from "./layers.js";
import {
  type ComputeOp,
  type ConvOp,
  type DenseOp,
  type MaxpoolOp,
  opOutputShape,
  type Pads,
  type Stage,
  stageOutputShape,
  uniformPads,
} from "./ops.js";
import type { Runtime } from "./runtime.js";

/** Deterministic values in [-1, 1): the suite is the same on every run. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const activate = (x: number, a: Activation): number =>
  ({ leaky: x > 0 ? x : 0.1 * x, relu: Math.max(0, x), logistic: 1 / (1 + Math.exp(-x)), linear: x })[a];

/** darknet's convolution (im2col + gemm), written out as the loops it computes. */
function referenceConv(op: ConvOp, x: Float32Array, input: Shape): Float32Array {
  const out = opOutputShape(op, input);
  const y = new Float32Array(out.c * out.h * out.w);
  const perGroup = op.inC / op.groups;
  for (let o = 0; o < out.c; o++) {
    const g = Math.floor(o / (out.c / op.groups));
    for (let oy = 0; oy < out.h; oy++) {
      for (let ox = 0; ox < out.w; ox++) {
        let sum = op.bias ? op.bias[o]! : 0;
        for (let ic = 0; ic < perGroup; ic++) {
          for (let ky = 0; ky < op.size; ky++) {
            for (let kx = 0; kx < op.size; kx++) {
              const iy = oy * op.stride + ky - op.pads.top;
              const ix = ox * op.stride + kx - op.pads.left;
              if (iy < 0 || ix < 0 || iy >= input.h || ix >= input.w) continue;
              const w = op.weights[((o * perGroup + ic) * op.size + ky) * op.size + kx]!;
              sum += w * x[((g * perGroup + ic) * input.h + iy) * input.w + ix]!;
            }
          }
        }
        y[(o * out.h + oy) * out.w + ox] = activate(sum, op.activation);
      }
    }
  }
  return y;
}

/** darknet's maxpool: padding is −∞, so it never wins. */
function referenceMaxpool(op: MaxpoolOp, x: Float32Array, input: Shape): Float32Array {
  const out = opOutputShape(op, input);
  const y = new Float32Array(out.c * out.h * out.w);
  for (let c = 0; c < out.c; c++) {
    for (let oy = 0; oy < out.h; oy++) {
      for (let ox = 0; ox < out.w; ox++) {
        let best = -Infinity;
        for (let ky = 0; ky < op.size; ky++) {
          for (let kx = 0; kx < op.size; kx++) {
            const iy = oy * op.stride + ky - op.pads.top;
            const ix = ox * op.stride + kx - op.pads.left;
            if (iy >= 0 && ix >= 0 && iy < input.h && ix < input.w)
              best = Math.max(best, x[(c * input.h + iy) * input.w + ix]!);
          }
        }
        y[(c * out.h + oy) * out.w + ox] = best;
      }
    }
  }
  return y;
}

function referenceDense(op: DenseOp, x: Float32Array): Float32Array {
  const y = new Float32Array(op.outputs);
  for (let o = 0; o < op.outputs; o++) {
    let sum = op.bias ? op.bias[o]! : 0;
    for (let i = 0; i < op.inputs; i++) sum += op.weights[o * op.inputs + i]! * x[i]!;
    y[o] = activate(sum, op.activation);
  }
  return y;
}

function referenceOp(op: ComputeOp, x: Float32Array, input: Shape): Float32Array {
  switch (op.kind) {
    case "conv":
      return referenceConv(op, x, input);
    case "maxpool":
      return referenceMaxpool(op, x, input);
    case "dense":
      return referenceDense(op, x);
    case "avgpool": {
      const hw = input.h * input.w;
      return Float32Array.from(
        { length: input.c },
        (_, c) => x.subarray(c * hw, (c + 1) * hw).reduce((a, v) => a + v, 0) / hw,
      );
    }
  }
}

/** Every op's output through the reference, in order. */
function reference(stage: Stage, x: Float32Array): Float32Array[] {
  const outs: Float32Array[] = [];
  let shape = stage.input;
  for (const op of stage.ops) {
    x = referenceOp(op, x, shape);
    shape = opOutputShape(op, shape);
    outs.push(x);
  }
  return outs;
}

/** Largest |a − b| relative to max(1, max |b|): the measure the darknet oracle tests use. */
function relativeError(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

const conv = (
  inC: number,
  outC: number,
  size: number,
  stride: number,
  pads: Pads,
  activation: Activation,
  seed: number,
  bias = true,
  groups = 1,
): ConvOp => ({
  kind: "conv",
  inC,
  outC,
  size,
  stride,
  groups,
  pads,
  activation,
  weights: values((outC * inC * size * size) / groups, seed),
  ...(bias ? { bias: values(outC, seed + 1) } : {}),
});

/** Float32 sums in another order than the reference's float64 ones. */
const TOLERANCE = 1e-5;

export function runtimeContract(name: string, makeRuntime: () => Runtime): void {
  describe(`compute runtime contract: ${name}`, () => {
    const runtime = makeRuntime();

    const cases: [string, Stage][] = [
      [
        "3×3 conv, stride 1, leaky, with bias",
        { input: { c: 3, h: 9, w: 11 }, ops: [conv(3, 5, 3, 1, uniformPads(1), "leaky", 1)] },
      ],
      [
        "3×3 conv, stride 2, uneven pads (an FTP tile's edge), linear, no bias (partial sums)",
        {
          input: { c: 4, h: 8, w: 7 },
          ops: [conv(4, 6, 3, 2, { top: 1, left: 0, bottom: 0, right: 1 }, "linear", 3, false)],
        },
      ],
      [
        "1×1 conv, logistic and relu",
        {
          input: { c: 6, h: 4, w: 4 },
          ops: [conv(6, 3, 1, 1, uniformPads(0), "logistic", 5), conv(3, 2, 1, 1, uniformPads(0), "relu", 7)],
        },
      ],
      [
        "grouped 3×3 conv",
        { input: { c: 4, h: 5, w: 5 }, ops: [conv(4, 4, 3, 1, uniformPads(1), "leaky", 9, true, 2)] },
      ],
      [
        "2×2 maxpool, stride 2",
        { input: { c: 3, h: 8, w: 6 }, ops: [{ kind: "maxpool", size: 2, stride: 2, pads: uniformPads(0) }] },
      ],
      [
        "2×2 maxpool, stride 1, padded bottom/right (YOLOv2-tiny's layer 11)",
        {
          input: { c: 2, h: 5, w: 5 },
          ops: [{ kind: "maxpool", size: 2, stride: 1, pads: { top: 0, left: 0, bottom: 1, right: 1 } }],
        },
      ],
      ["avgpool", { input: { c: 3, h: 4, w: 5 }, ops: [{ kind: "avgpool" }] }],
      [
        "dense after a conv (flattened C×H×W), leaky",
        {
          input: { c: 2, h: 3, w: 3 },
          ops: [
            conv(2, 2, 3, 1, uniformPads(1), "linear", 11),
            {
              kind: "dense",
              inputs: 18,
              outputs: 7,
              weights: values(18 * 7, 13),
              bias: values(7, 14),
              activation: "leaky",
            },
          ],
        },
      ],
    ];

    it.each(cases)("%s: the same numbers as darknet's loops", async (_, stage) => {
      const x = values(stage.input.c * stage.input.h * stage.input.w, 42);
      const compiled = await runtime.compile(stage);
      const [y] = await compiled.run(x);
      expect(relativeError(y!, reference(stage, x).at(-1)!)).toBeLessThan(TOLERANCE);
      expect(compiled.outputs).toEqual([stageOutputShape(stage)]);
      await compiled.release();
    });

    it("returns the exposed ops' outputs in the order asked, with their shapes", async () => {
      const stage: Stage = {
        input: { c: 3, h: 8, w: 8 },
        ops: [
          conv(3, 4, 3, 1, uniformPads(1), "leaky", 21),
          { kind: "maxpool", size: 2, stride: 2, pads: uniformPads(0) },
          conv(4, 2, 1, 1, uniformPads(0), "linear", 23),
        ],
      };
      const x = values(3 * 8 * 8, 7);
      const compiled = await runtime.compile(stage, [2, 0]);
      expect(compiled.outputs).toEqual([
        { c: 2, h: 4, w: 4 },
        { c: 4, h: 8, w: 8 },
      ]);
      const [last, first] = await compiled.run(x);
      const expected = reference(stage, x);
      expect(relativeError(last!, expected[2]!)).toBeLessThan(TOLERANCE);
      expect(relativeError(first!, expected[0]!)).toBeLessThan(TOLERANCE);
      await compiled.release();
    });

    it("runs a compiled stage many times with the same answer, and refuses an input of the wrong size", async () => {
      const stage: Stage = { input: { c: 2, h: 4, w: 4 }, ops: [conv(2, 3, 3, 1, uniformPads(1), "leaky", 31)] };
      const compiled = await runtime.compile(stage);
      const x = values(32, 3);
      const [a] = await compiled.run(x);
      const [b] = await compiled.run(x);
      expect(Array.from(b!)).toEqual(Array.from(a!));
      await expect(compiled.run(new Float32Array(31))).rejects.toThrow(ShapeError);
      await compiled.release();
    });
  });
}

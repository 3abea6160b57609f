/**
 * Every way a layer is cut across devices must give back the whole layer:
 * concatenated output slices (LOP), summed input slices + bias/BN/activation (LIP),
 * and an output slice of l feeding an input slice of l+1 on one device (FUSE).
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diff } from "../test/compare.js";
import { cfgPath, readF32, readOracle } from "../test/fixtures.js";
import { foldBatchNorm, type FoldedParams } from "./fold.js";
import { concat, mergePartials } from "./host.js";
import type { Layer } from "./layers.js";
import { loadNetwork, type Network } from "./network.js";
import { onnxRuntime } from "./onnx/runtime.js";
import type { CompiledStage } from "./runtime.js";
import type { ComputeOp } from "./ops.js";
import { inputSliceOp, layerOp, outputSliceOp } from "./slices.js";
import { readWeights } from "./weights.js";

const runtime = onnxRuntime();
const compiled: CompiledStage[] = [];
afterAll(async () => Promise.all(compiled.map((s) => s.release())));

async function run(input: Layer["input"], ops: ComputeOp[], x: Float32Array): Promise<Float32Array> {
  const stage = await runtime.compile({ input, ops });
  compiled.push(stage);
  return (await stage.run(x))[0]!;
}

function fixture(name: string) {
  const oracle = readOracle(name);
  const network: Network = loadNetwork(cfgPath(oracle.cfg.replace(/\.cfg$/, "")));
  const weights = readWeights(join(oracle.dir, oracle.weights), network);
  // Each test folds its own copy: folding works in place.
  const params = (i: number): FoldedParams => {
    const raw = weights.layers[i]!;
    return foldBatchNorm({ biases: raw.biases.slice(), weights: raw.weights.slice(), bn: raw.bn });
  };
  const output = (i: number) => readF32(join(oracle.dir, `layer${String(i).padStart(2, "0")}.f32`));
  return { network, params, output, input: readF32(join(oracle.dir, oracle.input_file)) };
}

/** Uneven channel ranges, as a plan makes when channels don't divide by N. */
function ranges(n: number, parts: number): [number, number][] {
  return Array.from({ length: parts }, (_, p) => [Math.floor((p * n) / parts), Math.floor(((p + 1) * n) / parts)]);
}

const expectClose = (actual: Float32Array, reference: Float32Array, what: string) => {
  const d = diff(actual, reference);
  expect(d.relative, `${what}: max |a−b| = ${d.maxAbs}`).toBeLessThanOrEqual(1e-5);
};

describe.each([
  ["yolov2-mini-s7-dog", 14, 15], // conv 3×3 192 → 128 (input: a route)
  ["fc-mini-s3-dog", 3, 4], // connected 64×8×8 → 1024 (input channels of a conv map)
  ["fc-mini-s3-dog", 6, 7], // connected 512 → 256
] as const)("%s layer %i → %i", (name, before, layerIndex) => {
  const f = fixture(name);
  const layer = f.network.layers[layerIndex]!;
  const x = f.output(before);

  it.each([2, 3, 6])("LOP: %i output slices concatenated equal the whole layer", async (parts) => {
    const whole = await run(layer.input, [layerOp(layer, f.params(layerIndex))], x);
    const n = layer.output.c;
    const slices = await Promise.all(
      ranges(n, parts).map(([a, b]) => run(layer.input, [outputSliceOp(layer, f.params(layerIndex), a, b)], x)),
    );
    expectClose(concat(slices), whole, "concat");
    expectClose(whole, f.output(layerIndex), "whole vs darknet");
  });

  it.each([2, 3, 6])("LIP: %i input slices summed, plus bias/BN/activation, equal the whole layer", async (parts) => {
    const c = layer.input.c;
    const hw = layer.input.h * layer.input.w;
    const p = f.params(layerIndex);
    const partials = await Promise.all(
      ranges(c, parts).map(([a, b]) =>
        run(
          { c: b - a, h: layer.input.h, w: layer.input.w },
          [inputSliceOp(layer, p, a, b)],
          x.subarray(a * hw, b * hw),
        ),
      ),
    );
    const activation = layer.kind === "convolutional" || layer.kind === "connected" ? layer.activation : "linear";
    expectClose(mergePartials(partials, p.bias, activation), f.output(layerIndex), "merged vs darknet");
  });
});

describe("FUSE: an output slice of l feeding an input slice of l+1 on one device", () => {
  it.each([
    ["yolov2-mini-s7-dog", 8], // conv 3×3 64→128 then conv 1×1 128→64
    ["fc-mini-s3-dog", 6], // connected 512→256 then 256→10
  ] as const)("%s layers %i and %i+1 over 3 devices equal the two whole layers", async (name, l) => {
    const f = fixture(name);
    const [first, second] = [f.network.layers[l]!, f.network.layers[l + 1]!];
    const [p1, p2] = [f.params(l), f.params(l + 1)];
    const x = f.output(l - 1);
    const partials = await Promise.all(
      ranges(first.output.c, 3).map(([a, b]) =>
        run(first.input, [outputSliceOp(first, p1, a, b), inputSliceOp(second, p2, a, b)], x),
      ),
    );
    const activation = second.kind === "convolutional" || second.kind === "connected" ? second.activation : "linear";
    expectClose(mergePartials(partials, p2.bias, activation), f.output(l + 1), "fused vs darknet");
  });
});

describe("slice errors", () => {
  const f = fixture("yolov2-mini-s7-dog");
  it("a range outside the layer's channels", () => {
    expect(() => outputSliceOp(f.network.layers[15]!, f.params(15), 100, 200)).toThrow(
      "layer 15: output-channel slice [100, 200) is not within [0, 128)",
    );
    expect(() => inputSliceOp(f.network.layers[15]!, f.params(15), 0, 0)).toThrow(
      "layer 15: input-channel slice [0, 0) is not within [0, 192)",
    );
  });
  it("a layer without channels to slice", () => {
    expect(() => outputSliceOp(f.network.layers[1]!, undefined, 0, 1)).toThrow(
      "layer 1 (maxpool) has no output channels to slice",
    );
  });
});

import { describe, expect, it } from "vitest";
import { type ConvOp, type MaxpoolOp, uniformPads } from "../ops.js";
import { runtimeContract } from "../runtime.contract.js";
import { DEFAULT_RUNTIME_OPTIONS, DEVICE_RUNTIME_OPTIONS, layoutTransformPays, onnxRuntime } from "./runtime.js";

const conv = (inC: number, outC: number): ConvOp => ({
  kind: "conv",
  inC,
  outC,
  size: 3,
  stride: 1,
  groups: 1,
  pads: uniformPads(1),
  weights: new Float32Array(outC * inC * 9),
  bias: new Float32Array(outC),
  activation: "leaky",
});
const pool: MaxpoolOp = { kind: "maxpool", size: 2, stride: 2, pads: uniformPads(0) };
const stage = (...ops: (ConvOp | MaxpoolOp)[]) => ({ input: { c: 3, h: 608, w: 608 }, ops });

describe("the NCHWc layout transform", () => {
  it("is kept for whole-channel sessions on a device (FTP tiles, whole layers)", () => {
    expect(layoutTransformPays(stage(conv(3, 32), pool, conv(32, 64), pool), DEVICE_RUNTIME_OPTIONS)).toBe(true);
  });

  it("is skipped on a device for a thin channel slice, and for too many weights", () => {
    expect(layoutTransformPays(stage(conv(3, 6), pool), DEVICE_RUNTIME_OPTIONS)).toBe(false);
    expect(layoutTransformPays(stage(conv(3, 32), conv(32, 22)), DEVICE_RUNTIME_OPTIONS)).toBe(false);
    expect(layoutTransformPays(stage(conv(1024, 1024)), DEVICE_RUNTIME_OPTIONS)).toBe(false); // 37.7 MB of weights
  });

  it("is always used by default (one device, whole network)", () => {
    expect(layoutTransformPays(stage(conv(3, 6), pool), DEFAULT_RUNTIME_OPTIONS)).toBe(true);
    expect(layoutTransformPays(stage(conv(1024, 1024)), DEFAULT_RUNTIME_OPTIONS)).toBe(true);
  });
});

runtimeContract("onnxruntime-node", () => onnxRuntime());

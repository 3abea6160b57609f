import { describe, expect, it } from "vitest";
import type { StageTrace } from "../broker/messages.js";
import { criticalComputeMs, stagesOf } from "./experiment.js";
import type { InferReply } from "./hub-protocol.js";

const device = (workerId: string, computeMs: number) => ({ workerId, computeMs, bytesSent: 0, bytesReceived: 0 });

function reply(trace: StageTrace[], preprocessMs: number, postprocessMs: number): InferReply {
  return {
    op: "infer",
    latencyMs: 100,
    result: { detections: [], timings: { totalMs: 90, preprocessMs, postprocessMs }, trace },
    linkBytes: {},
    modelledBytes: 0,
    measuredBytes: 0,
  };
}

describe("the lower bound's compute on the critical path", () => {
  const trace: StageTrace[] = [
    { layers: [0, 11], scheme: "FTP", wallMs: 40, devices: [device("src", 30), device("w1", 35), device("w2", 12)] },
    { layers: [12, 13], scheme: "FUSE", wallMs: 20, devices: [device("src", 6), device("w1", 9)] },
    { layers: [14, 14], scheme: "LOP", wallMs: 5, devices: [] },
  ];

  it("takes each stage's slowest device, a stage without devices as nothing", () => {
    expect(stagesOf(reply(trace, 0, 0)).map((s) => s.computeMs)).toEqual([35, 9, 0]);
  });

  it("adds the source's decoding before the first stage and its detections after the last", () => {
    // 35 + 9 + 0 stages, 7 before, 4 after
    expect(criticalComputeMs(reply(trace, 7, 4))).toBe(55);
    expect(criticalComputeMs(reply([], 7, 4))).toBe(11);
  });
});

describe("a stage's input bytes", () => {
  it("counts every device's copy as received, and a shared input (layerIn) once as published", () => {
    const got = (workerId: string, bytesReceived: number, sharedInput?: boolean) => ({
      ...device(workerId, 1),
      bytesReceived,
      ...(sharedInput ? { sharedInput } : {}),
    });
    const trace: StageTrace[] = [
      {
        layers: [0, 11],
        scheme: "FTP",
        wallMs: 40,
        devices: [got("src", 0), got("w1", 164e3, true), got("w2", 164e3, true)],
      },
      { layers: [12, 12], scheme: "LIP", wallMs: 9, devices: [got("w1", 500), got("w2", 700)] },
    ];
    const stages = stagesOf(reply(trace, 0, 0));
    expect(stages.map((s) => [s.inputBytes, s.publishedBytes])).toEqual([
      [328e3, 164e3],
      [1200, 1200],
    ]);
  });
});

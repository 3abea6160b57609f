import { describe, expect, it } from "vitest";
import { cfgPath } from "../test/fixtures.js";
import { loadNetwork } from "../dnn/network.js";
import { makePlan as makeAnyPlan } from "./build.js";

/** The paper's objective (least C): what these tests check; planner/latency.test.ts checks the latency objective. */
const makePlan: typeof makeAnyPlan = (network, o) => makeAnyPlan(network, { objective: "comm", ...o });
import { checkPlanForNetwork, networkFingerprint, parsePlan, type Plan } from "./schema.js";

const yolov2 = loadNetwork(cfgPath("yolov2"));
const plan = makePlan(yolov2, {
  devices: ["a", "b", "c"].map((workerId) => ({ workerId, memoryBudgetBytes: 100e6, gmacPerSec: 40 })),
  ftpEnd: 12,
});
/** What a tampered plan is: loose JSON, broken in ways the Plan type rightly forbids. */
// biome-ignore lint/suspicious/noExplicitAny: the changes set wrong literals and delete required keys, which no precise type admits
type LooseJson = any;
/** A deep copy with one change, as a buggy or hostile sender would publish it. */
const tampered = (change: (p: LooseJson) => void): unknown => {
  const copy = JSON.parse(JSON.stringify(plan));
  change(copy);
  return copy;
};
const stepIndex = (layer: number) => plan.steps.findIndex((s) => s.layer === layer);

describe("parsePlan", () => {
  it("reads back what makePlan wrote, through JSON", () => {
    expect(parsePlan(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
  });

  it.each<[string, (p: LooseJson) => void, RegExp]>([
    ["a newer version", (p) => (p.version = 2), /^plan: field version: /],
    ["a missing step", (p) => p.steps.splice(3, 1), /field steps: expected 20 steps \(layers 12\.\.31\), got 19/],
    [
      "FUSE2 without FUSE1",
      (p) => (p.steps[stepIndex(12)].scheme = "lop"),
      /field steps\[1\]\.scheme: FUSE2 must follow a FUSE1 step/,
    ],
    [
      "FUSE1 without FUSE2",
      (p) => (p.steps[stepIndex(13)].scheme = "lip"),
      /steps\[1\]\.scheme: layer 13 follows a FUSE1 step, so it must be FUSE2/,
    ],
    [
      "a part on an unknown worker",
      (p) => (p.steps[stepIndex(16)].parts[0].workerId = "zz"),
      /steps\[4\]\.parts\[0\]\.workerId: unknown worker 'zz'/,
    ],
    [
      "an empty channel range",
      (p) => (p.steps[stepIndex(16)].parts[0].cut.c1 = 0),
      /steps\[4\]\.parts\[0\]\.cut: empty channel range/,
    ],
    [
      "a LIP step with output cuts",
      (p) => (p.steps[stepIndex(26)].parts[0].cut.kind = "output"),
      /LIP splits input channels, got an output cut/,
    ],
    [
      "a worker id with a slash",
      (p) => (p.devices[0].workerId = "a/b"),
      /field devices\[0\]\.workerId: expected 1-64 of/,
    ],
    [
      "a tile with an empty region",
      (p) => (p.ftp.tiles[0].output.y1 = p.ftp.tiles[0].output.y0),
      /ftp\.tiles\[0\]\.output: empty rectangle/,
    ],
    ["an unknown strategy", (p) => (p.inputs.strategy = "greedy"), /field inputs\.strategy: /],
    [
      "an FTP choice that is neither a count nor auto",
      (p) => (p.inputs.ftpLayers = "most"),
      /field inputs\.ftpLayers: /,
    ],
    ["negative traffic", (p) => (p.totals.commElements = -1), /field totals\.commElements: /],
  ])("refuses %s, naming the field", (_what, change, message) => {
    expect(() => parsePlan(tampered(change))).toThrow(message);
  });

  it("reads a version-1 plan written before inputs, objective, totals and per-layer F_n / T existed", () => {
    const older = tampered((p) => {
      for (const key of ["inputs", "objective", "totals"]) delete p[key];
      delete p.ftp.perDevice;
      delete p.ftp.weights;
      for (const d of p.cost.perDevice) delete d.featureElements;
      for (const step of p.steps) for (const key of ["weightsPerDevice", "multsOnPath"]) delete step[key];
    });
    expect(parsePlan(older).totals).toBeUndefined();
  });

  it("records what produced it: the strategy, FTP choice, grid, pins, element size and objective", () => {
    expect(plan.inputs).toEqual({
      strategy: "auto",
      ftpLayers: 12,
      grid: null,
      pinned: [],
      bytesPerElement: 4,
      objective: "comm",
      split: "auto",
      broker: "source",
    });
    expect(plan.objective).toMatchObject({ schemes: "min-comm", ftp: "min-largest-memory" });
    expect(plan.totals).toMatchObject({
      commElements: plan.cost.elements,
      commBytes: plan.cost.bytes,
      bytesPerElement: 4,
    });
  });

  it("refuses something that is not a plan at all", () => {
    expect(() => parsePlan("hello", "edgefuse/v1/lab/plan")).toThrow(/^edgefuse\/v1\/lab\/plan: /);
  });
});

describe("checkPlanForNetwork", () => {
  it("accepts the network the plan was made for and refuses another", () => {
    expect(() => checkPlanForNetwork(plan, yolov2)).not.toThrow();
    const voc = loadNetwork(cfgPath("yolov2-voc"));
    expect(networkFingerprint(voc)).not.toBe(plan.model.fingerprint);
    expect(() => checkPlanForNetwork(plan, voc)).toThrow(`plan ${plan.id} was made for model 'yolov2' (32 layers)`);
  });
  it("refuses channel ranges that leave a gap", () => {
    const gap = parsePlan(tampered((p) => (p.steps[stepIndex(16)].parts[1].cut.c0 += 1))) as Plan;
    expect(() => checkPlanForNetwork(gap, yolov2)).toThrow(
      /layer 16: channel ranges must tile \[0, 512\) without gaps or overlap/,
    );
  });
});

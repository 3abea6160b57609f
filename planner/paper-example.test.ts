/**
 * The paper's running example (Stahl et al. §3.3–4.3, Figs. 1–7): four fully-connected
 * layers 4→8→16→4→4 on N = 2 devices. Every number below is printed in the paper.
 */
import { describe, expect, it } from "vitest";
import { parseCfgText } from "../dnn/cfg.js";
import { buildNetwork } from "../dnn/network.js";
import { chainCost, pipelineCost, singleDeviceCost } from "./costs.js";
import type { Scheme, Strategy } from "./schemes.js";
import { makePlan as makeAnyPlan } from "./build.js";

/** The paper's objective (least C): what these tests check; planner/latency.test.ts checks the latency objective. */
const makePlan: typeof makeAnyPlan = (network, o) => makeAnyPlan(network, { objective: "comm", ...o });
import { optimalSchemes } from "./ilp.js";
import type { Plan } from "./schema.js";
import { allLop } from "./strategies.js";
import { partitionUnits } from "./units.js";

const cfg = [
  "[net]",
  "width=1",
  "height=1",
  "channels=4",
  ...[8, 16, 4, 4].flatMap((n) => ["[connected]", `output=${n}`, "activation=relu"]),
].join("\n");
const units = partitionUnits(buildNetwork(parseCfgText(cfg, "paper-fc.cfg")), 0);
const N = 2;
const cost = (schemes: Scheme[]) => chainCost(units, schemes, N).elements;

describe("paper 4-layer example, N = 2", () => {
  it("has the layer sizes of Fig. 1", () => {
    expect(units.map((u) => [u.inputs, u.outputs])).toEqual([
      [4, 8],
      [8, 16],
      [16, 4],
      [4, 4],
    ]);
    expect(units.every((u) => u.reusableByNext || u === units.at(-1))).toBe(true);
  });
  it("single device: F = T = 240, C = 0 (eq. 6)", () => {
    expect(singleDeviceCost(units)).toEqual({ weights: 240, mults: 240, elements: 0 });
  });
  it("layer pipelining: F1 = 160, F2 = 80, T = 240, C = 16", () => {
    expect(pipelineCost(units, [0, 0, 1, 1])).toEqual({ weightsPerStage: [160, 80], mults: 240, elements: 16 });
  });
  it("all LOP: F = T = 120, C = 34 (eq. 7)", () => {
    const c = allLop(units, N);
    expect([c.weightsPerDevice, c.multsOnPath, c.elements]).toEqual([120, 120, 34]);
  });
  it("all LIP: C = 48 (eq. 8)", () => {
    expect(cost(["lip", "lip", "lip", "lip"])).toBe(48);
  });
  it("fusing (1,2) and (3,4): C = 40 (eqs. 9–10, Fig. 6)", () => {
    expect(cost(["fuse1", "fuse2", "fuse1", "fuse2"])).toBe(40);
  });
  it("the ILP optimum is C = 22 (Fig. 7), with one of the two tied assignments", () => {
    const best = optimalSchemes(units, N);
    expect(best.elements).toBe(22);
    expect([
      ["lop", "fuse1", "fuse2", "lop"],
      ["lop", "fuse1", "fuse2", "lip"],
    ]).toContainEqual(best.schemes);
    expect(cost(["lop", "fuse1", "fuse2", "lop"])).toBe(22);
    expect(cost(["lop", "fuse1", "fuse2", "lip"])).toBe(22);
  });
  it("rejects assignments the ILP constraints forbid (eqs. 12–13)", () => {
    expect(() => cost(["lop", "lop", "lop", "fuse1"])).toThrow(/layer 3: FUSE1/);
    expect(() => cost(["lop", "fuse2", "lop", "lop"])).toThrow(/layer 1: FUSE2 must directly follow/);
    expect(() => cost(["fuse1", "lop", "lop", "lop"])).toThrow(/layer 1: follows FUSE1 layer 0/);
  });
});

describe("paper 4-layer example as a darknet cfg, through makePlan", () => {
  const network = buildNetwork(parseCfgText(cfg, "paper-fc.cfg"));
  const workers = (n: number) => Array.from({ length: n }, (_, i) => ({ workerId: `d${i + 1}` }));
  const plan = (devices: number, strategy: Strategy, bytesPerElement = 4) =>
    makePlan(network, { devices: workers(devices), strategy, bytesPerElement });
  const schemesOf = (p: Plan) => p.steps.map((s) => s.scheme);

  it("one device: F = T = 240, C = 0", () => {
    for (const strategy of ["auto", "lop", "lip", "fuse-all"] as const) {
      expect(plan(1, strategy).totals).toMatchObject({
        weightsPerDevice: 240,
        multiplications: 240,
        commElements: 0,
        commBytes: 0,
      });
    }
  });

  it.each([
    ["lop", 34, ["lop", "lop", "lop", "lop"]],
    ["lip", 48, ["lip", "lip", "lip", "lip"]],
    ["fuse-all", 40, ["fuse1", "fuse2", "fuse1", "fuse2"]],
  ] as const)("N = 2, %s: F = T = 120, C = %i", (strategy, c, schemes) => {
    const p = plan(2, strategy);
    expect(p.totals).toMatchObject({ weightsPerDevice: 120, multiplications: 120, commElements: c, commBytes: 4 * c });
    expect(schemesOf(p)).toEqual(schemes);
    // per layer F_n = Q_l / N and T_l = R_l / N (Fig. 1: Q = 32, 128, 64, 16)
    expect(p.steps.map((s) => ("weightsPerDevice" in s ? [s.weightsPerDevice, s.multsOnPath] : []))).toEqual([
      [16, 16],
      [64, 64],
      [32, 32],
      [8, 8],
    ]);
  });

  it("N = 2, the ILP: C = 22 with LOP, FUSE1, FUSE2 and LOP or LIP; bytes follow the element size", () => {
    const p = plan(2, "auto", 2);
    expect(p.totals).toMatchObject({
      weightsPerDevice: 120,
      multiplications: 120,
      commElements: 22,
      commBytes: 44,
      bytesPerElement: 2,
    });
    expect([
      ["lop", "fuse1", "fuse2", "lop"],
      ["lop", "fuse1", "fuse2", "lip"],
    ]).toContainEqual(schemesOf(p));
    expect(p.objective).toMatchObject({ schemes: "min-comm", ftp: "min-largest-memory" });
  });

  it("the authors' plan exists only for YOLOv2", () => {
    expect(() => plan(2, "paper")).toThrow(
      "the paper's plan exists only for yolov2.cfg (the authors' YOLOv2, 608×608, 80 classes), not for paper-fc.cfg",
    );
  });
});

import { describe, expect, it } from "vitest";
import { cfgPath } from "../test/shared.js";
import { loadNetwork } from "../dnn/network.js";
import { channelRange, evaluateBoundary, makePlan } from "./build.js";
import { maxFtpEnd } from "./ftp.js";
import { checkPlanForNetwork, type PartitionedStep, type Plan } from "./schema.js";

const yolov2 = loadNetwork(cfgPath("yolov2"));
const fcMini = loadNetwork(cfgPath("fc-mini"));
const workers = (n: number, budgetMb?: number) =>
  Array.from({ length: n }, (_, i) => ({ workerId: `w${i + 1}`, ...(budgetMb ? { memoryBudgetBytes: budgetMb * 1e6 } : {}) }));
const schemesOf = (plan: Plan) => Object.fromEntries(plan.steps.filter((s): s is PartitionedStep => s.scheme !== "source" && s.scheme !== "carry").map((s) => [s.layer, s.scheme]));

describe("makePlan on YOLOv2", () => {
  it("with the authors' FTP boundary (layers 0–11) and 6 devices, the ILP gives the authors' own plan", () => {
    const plan = makePlan(yolov2, { devices: workers(6), ftpEnd: 12 });
    // FACTS.md: FUSE (12,13), (14,15), (18,19), (20,21), (23,24), (29,30), LOP on 16 and 22, LIP on 26.
    expect(schemesOf(plan)).toEqual({
      12: "fuse1", 13: "fuse2", 14: "fuse1", 15: "fuse2", 16: "lop", 18: "fuse1", 19: "fuse2",
      20: "fuse1", 21: "fuse2", 22: "lop", 23: "fuse1", 24: "fuse2", 26: "lip", 29: "fuse1", 30: "fuse2",
    });
    checkPlanForNetwork(plan, yolov2);
  });

  it("auto picks the FTP boundary with the least modelled traffic", () => {
    const plan = makePlan(yolov2, { devices: workers(6) });
    for (let b = 0; b <= maxFtpEnd(yolov2); b++) {
      expect(plan.cost.elements).toBeLessThanOrEqual(evaluateBoundary(yolov2, b, { strategy: "optimal", pinned: new Map() }, 6).elements + 1e-6);
    }
    expect(plan.ftp!.tiles.map((t) => t.workerId)).toEqual(["w1", "w2", "w3", "w4", "w5", "w6"]);
  });

  it("fusion saves traffic over LOP everywhere, and C adds up from the steps", () => {
    const best = makePlan(yolov2, { devices: workers(6), ftpEnd: 12 });
    const lop = makePlan(yolov2, { devices: workers(6), ftpEnd: 12, strategy: "lop" });
    expect(Object.values(schemesOf(lop)).every((s) => s === "lop")).toBe(true);
    expect(best.cost.elements).toBeLessThan(lop.cost.elements);
    for (const plan of [best, lop]) {
      const sum = plan.ftp!.elements + Object.values(plan.steps).reduce((a, s) => a + ("elements" in s ? s.elements : 0), 0);
      expect(plan.cost.elements).toBeCloseTo(sum, 3);
      expect(plan.cost.bytes).toBeCloseTo(4 * plan.cost.elements, 3);
    }
  });

  it("splits every partitioned layer's weights evenly: F_n = ΣQ/N plus the FTP stack", () => {
    const plan = makePlan(yolov2, { devices: workers(6), ftpEnd: 12 });
    const stack = yolov2.layers.slice(0, 12).reduce((a, l) => a + l.stats.weights, 0);
    const rest = yolov2.layers.slice(12).reduce((a, l) => a + l.stats.weights, 0);
    const total = plan.cost.perDevice.reduce((a, d) => a + d.weights, 0);
    expect(total).toBeCloseTo(6 * stack + rest, -1);
    for (const d of plan.cost.perDevice) expect(Math.abs(d.weights - (stack + rest / 6)) / (stack + rest / 6)).toBeLessThan(0.01);
  });

  it("pinned schemes are kept and the rest re-optimised (the paper's Table 2 variants)", () => {
    const pinned = new Map([[19, "fuse1"], [20, "fuse2"]] as const);
    const plan = makePlan(yolov2, { devices: workers(6), ftpEnd: 17, pinned });
    expect(schemesOf(plan)).toMatchObject({ 19: "fuse1", 20: "fuse2" });
    expect(schemesOf(plan)[18]).not.toBe("fuse1");
    expect(() => makePlan(yolov2, { devices: workers(6), ftpEnd: 17, pinned: new Map([[24, "fuse1"]]) })).toThrow(/layer 24 cannot be FUSE1/);
    expect(() => makePlan(yolov2, { devices: workers(6), ftpEnd: 17, pinned: new Map([[5, "lop"]]) })).toThrow(/layer 5 is not a partitioned layer here/);
  });

  it("is deterministic: same roster, same id; worker order does not matter; another roster, another id", () => {
    const a = makePlan(yolov2, { devices: workers(3) });
    const b = makePlan(yolov2, { devices: workers(3).reverse() });
    expect(b).toEqual(a);
    expect(makePlan(yolov2, { devices: workers(4) }).id).not.toBe(a.id);
  });
});

describe("makePlan and memory budgets", () => {
  it("warns when a worker's shards exceed its budget, and refuses when one shard alone does", () => {
    const roomy = makePlan(yolov2, { devices: workers(6, 64) });
    expect(roomy.warnings).toEqual([]);
    const tight = makePlan(yolov2, { devices: workers(6, 30) });
    expect(tight.warnings[0]).toMatch(/^worker w\d: its shards total \d+\.\d MB, over its 30\.0 MB budget/);
    expect(() => makePlan(yolov2, { devices: workers(6, 1) })).toThrow(/worker w1: its largest shard is \d+\.\d MB, its memory budget 1\.0 MB/);
  });
  it("prefers a boundary that fits over one that moves fewer bytes", () => {
    const free = makePlan(yolov2, { devices: workers(6) });
    const budget = (free.cost.perDevice[0]!.shardBytes - 4e6) / 1e6; // just under what the free choice needs
    const fitted = makePlan(yolov2, { devices: workers(6, budget) });
    expect(fitted.warnings).toEqual([]);
    expect(fitted.ftp?.end ?? 0).toBeLessThan(free.ftp!.end);
    for (const d of fitted.cost.perDevice) expect(d.shardBytes).toBeLessThanOrEqual(budget * 1e6);
  });
});

describe("makePlan on small and odd rosters", () => {
  it("one worker: everything on it, nothing to send", () => {
    const plan = makePlan(fcMini, { devices: workers(1) });
    expect(plan.cost.elements).toBe(0);
    checkPlanForNetwork(plan, fcMini);
  });

  it("more workers than channels: empty slices are left out, the rest tile the channels", () => {
    const plan = makePlan(fcMini, { devices: workers(16), ftpEnd: 4 });
    const last = plan.steps.find((s) => s.layer === 8) as PartitionedStep;
    const n = last.parts[0]!.cut.kind === "output" ? 10 : 256;
    expect(last.parts).toHaveLength(Math.min(16, n));
    checkPlanForNetwork(plan, fcMini);
  });

  it("a channel-wise layer after LOP / FUSE1 runs on the slices (carry), after a merge at the source", () => {
    for (const strategy of ["optimal", "lop"] as const) {
      const plan = makePlan(fcMini, { devices: workers(3), ftpEnd: 0, strategy });
      const scheme = (l: number) => plan.steps[l]!.scheme;
      for (const [weighted, channelwise] of [[0, 1], [2, 3], [4, 5]] as const) {
        const finished = scheme(weighted) === "lop" || scheme(weighted) === "fuse1";
        expect(scheme(channelwise), `${strategy}: layer ${channelwise} after ${scheme(weighted)}`).toBe(finished ? "carry" : "source");
      }
      expect(scheme(9)).toBe("source"); // softmax
    }
  });

  it("channel ranges differ by at most one channel", () => {
    const sizes = Array.from({ length: 7 }, (_, p) => channelRange(425, 7, p)).map(([a, b]) => b - a);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(sizes.reduce((a, b) => a + b)).toBe(425);
  });

  it("refuses an empty or duplicated roster", () => {
    expect(() => makePlan(fcMini, { devices: [] })).toThrow("no workers to plan for");
    expect(() => makePlan(fcMini, { devices: [{ workerId: "a" }, { workerId: "a" }] })).toThrow("worker 'a' is listed twice");
  });
});

import { describe, expect, it } from "vitest";
import { cfgPath } from "../test/fixtures.js";
import { parseCfgText } from "../dnn/cfg.js";
import { buildNetwork, loadNetwork } from "../dnn/network.js";
import { evaluateBoundary, makePlan as makeAnyPlan } from "./build.js";

/** The paper's objective (least C): what these tests check; planner/latency.test.ts checks the latency objective. */
const makePlan: typeof makeAnyPlan = (network, o) => makeAnyPlan(network, { objective: "comm", ...o });
import { gridsFor, maxFtpEnd } from "./ftp.js";
import { channelRanges } from "./parts.js";
import { checkPlanForNetwork, type PartitionedStep, type Plan } from "./schema.js";
import { PAPER_YOLOV2 } from "./strategies.js";

const yolov2 = loadNetwork(cfgPath("yolov2"));
const fcMini = loadNetwork(cfgPath("fc-mini"));
const workers = (n: number, budgetMb?: number) =>
  Array.from({ length: n }, (_, i) => ({
    workerId: `w${i + 1}`,
    ...(budgetMb ? { memoryBudgetBytes: budgetMb * 1e6 } : {}),
  }));
const partitioned = (plan: Plan) =>
  plan.steps.filter((s): s is PartitionedStep => s.scheme !== "source" && s.scheme !== "carry");
const schemesOf = (plan: Plan) => Object.fromEntries(partitioned(plan).map((s) => [s.layer, s.scheme]));
/** Every (b, grid) the default search considers for N devices. */
const everyLayout = (devices: number) =>
  Array.from({ length: maxFtpEnd(yolov2) + 1 }, (_, b) => b).flatMap((b) =>
    gridsFor(devices).map((grid) =>
      evaluateBoundary(yolov2, b, { grid, strategy: "auto", pinned: new Map() }, devices),
    ),
  );

describe("makePlan on YOLOv2", () => {
  it("with the authors' FTP boundary (layers 0–11) and 6 devices, the ILP gives the authors' own plan", () => {
    const plan = makePlan(yolov2, { devices: workers(6), ftpEnd: 12 });
    expect(schemesOf(plan)).toEqual(Object.fromEntries(PAPER_YOLOV2.schemes));
    expect(schemesOf(makePlan(yolov2, { devices: workers(6), strategy: "paper" }))).toEqual(schemesOf(plan));
    checkPlanForNetwork(plan, yolov2);
  });

  it("by default picks b and the grid with the least memory on the fullest device (DeepThings' criterion)", () => {
    const plan = makePlan(yolov2, { devices: workers(6) });
    const layouts = everyLayout(6);
    for (const c of layouts)
      expect(plan.objective!.largestMemoryElements).toBeLessThanOrEqual(Math.round(c.largestMemory));
    expect(plan.objective).toMatchObject({ schemes: "min-comm", ftp: "min-largest-memory" });
    // memory = weights + peak feature maps, on the same device
    const sums = plan.cost.perDevice.map((d) => d.weights + d.featureElements!);
    expect(plan.totals!.memoryPerDevice).toBeCloseTo(Math.max(...sums), -1);
    expect(plan.ftp!.tiles.map((t) => t.workerId)).toEqual(["w1", "w2", "w3", "w4", "w5", "w6"]);
  });

  it("auto-comm picks the least modelled traffic instead, with more FTP layers and more memory", () => {
    const byComm = makePlan(yolov2, { devices: workers(6), ftpEnd: "auto-comm" });
    const byMemory = makePlan(yolov2, { devices: workers(6) });
    for (const c of everyLayout(6)) expect(byComm.cost.elements).toBeLessThanOrEqual(c.elements + 1e-6);
    expect(byComm.objective!.ftp).toBe("min-comm");
    expect(byComm.cost.elements).toBeLessThan(byMemory.cost.elements);
    expect(byComm.totals!.memoryPerDevice).toBeGreaterThan(byMemory.totals!.memoryPerDevice);
    expect(byComm.ftp!.end).toBeGreaterThan(byMemory.ftp!.end);
  });

  it("fusion saves traffic over LOP everywhere, and the totals add up from the steps", () => {
    const best = makePlan(yolov2, { devices: workers(6), ftpEnd: 12 });
    const lop = makePlan(yolov2, { devices: workers(6), ftpEnd: 12, strategy: "lop" });
    expect(Object.values(schemesOf(lop)).every((s) => s === "lop")).toBe(true);
    expect(best.cost.elements).toBeLessThan(lop.cost.elements);
    for (const plan of [best, lop]) {
      const steps = partitioned(plan);
      expect(plan.totals!.commElements).toBeCloseTo(plan.ftp!.elements + steps.reduce((a, s) => a + s.elements, 0), 3);
      expect(plan.totals!.commBytes).toBeCloseTo(4 * plan.totals!.commElements, 3);
      expect(plan.totals!.weightsPerDevice).toBe(Math.max(...plan.cost.perDevice.map((d) => d.weights)));
      const ftpPath = Math.max(...plan.ftp!.perDevice!.map((d) => d.mults));
      expect(plan.totals!.multiplications).toBeCloseTo(ftpPath + steps.reduce((a, s) => a + s.multsOnPath!, 0), 0);
    }
  });

  it("splits every partitioned layer's weights by channels: F_n = ΣQ/N plus the FTP stack", () => {
    const plan = makePlan(yolov2, { devices: workers(6), ftpEnd: 12, grid: { rows: 3, cols: 2 } });
    const stack = yolov2.layers.slice(0, 12).reduce((a, l) => a + l.stats.weights, 0);
    const rest = yolov2.layers.slice(12).reduce((a, l) => a + l.stats.weights, 0);
    expect(plan.ftp!.weights).toBe(stack);
    expect(plan.cost.perDevice.reduce((a, d) => a + d.weights, 0)).toBe(6 * stack + rest);
    for (const d of plan.cost.perDevice)
      expect(Math.abs(d.weights - (stack + rest / 6)) / (stack + rest / 6)).toBeLessThan(0.01);
  });

  it("puts FTP tiles on as many devices as keep the fullest within 5 % of total / N, and balances the rest", () => {
    const stack = yolov2.layers.slice(0, 12).reduce((a, l) => a + l.stats.weights, 0);
    const rest = yolov2.layers.slice(12).reduce((a, l) => a + l.stats.weights, 0);
    const share = yolov2.totalParams / 6;
    // every tile device holds the stack: 6 copies put each device 8 % over total/6, 4 copies 4.9 %
    const spread = makePlan(yolov2, { devices: workers(6), ftpEnd: 12, grid: { rows: 3, cols: 2 } });
    expect(Math.max(...spread.cost.perDevice.map((d) => d.shardBytes)) / 4 / share).toBeGreaterThan(1.05);
    const plan = makePlan(yolov2, { devices: workers(6), ftpEnd: 12 });
    const tileDevices = new Set(plan.ftp!.tiles.map((t) => t.workerId));
    expect([...tileDevices].sort()).toEqual(["w1", "w2", "w3", "w4"]); // 5 copies would be 6.2 % over
    expect(plan.cost.perDevice.reduce((a, d) => a + d.weights, 0)).toBe(4 * stack + rest);
    for (const d of plan.cost.perDevice) {
      expect(d.shardBytes / 4 / share).toBeLessThanOrEqual(1.05);
      // balanced: the devices without the stack take more channels, every device about the same
      expect(Math.abs(d.weights - (4 * stack + rest) / 6) / ((4 * stack + rest) / 6)).toBeLessThan(0.01);
    }
    const step = partitioned(plan).find((s) => s.layer === 29)!;
    const sizes = step.parts.map((p) => ("cut" in p ? p.cut.c1 - p.cut.c0 : 0));
    expect(Math.max(...sizes.slice(4))).toBeGreaterThan(Math.max(...sizes.slice(0, 4)));
    checkPlanForNetwork(plan, yolov2);
  });

  it("cuts channels unevenly when N does not divide them, by at most one channel, part p on device p", () => {
    const plan = makePlan(yolov2, { devices: workers(7), ftpEnd: 12, grid: { rows: 7, cols: 1 } });
    let uneven = 0;
    for (const step of partitioned(plan)) {
      const layer = yolov2.layers[step.layer]!;
      const n = step.parts[0]!.cut.kind === "output" ? layer.output.c : layer.input.c;
      const sizes = step.parts.map((p) => p.cut.c1 - p.cut.c0);
      expect(sizes.every((size) => size === Math.floor(n / 7) || size === Math.ceil(n / 7))).toBe(true);
      if (new Set(sizes).size > 1) uneven++;
      for (const [i, p] of step.parts.entries())
        expect([p.part, p.workerId, p.cut.c0]).toEqual([i, `w${i + 1}`, i === 0 ? 0 : step.parts[i - 1]!.cut.c1]);
      // F_n of the layer is its largest part's share of Q
      expect(step.weightsPerDevice).toBe((layer.stats.weights / n) * Math.max(...sizes));
    }
    expect(uneven).toBe(partitioned(plan).length); // no channel count here is a multiple of 7
    checkPlanForNetwork(plan, yolov2);
  });

  it("runs the fixed variants: all-LIP, pairwise fusion of each fusable run, the authors' plan", () => {
    const lip = makePlan(yolov2, { devices: workers(6), ftpEnd: 12, strategy: "lip" });
    expect(new Set(Object.values(schemesOf(lip)))).toEqual(new Set(["lip"]));
    // fusable runs after layer 11: 12–16 (16 is routed), 18–24 (24 is routed), 26 alone, 29–30
    expect(schemesOf(makePlan(yolov2, { devices: workers(6), ftpEnd: 12, strategy: "fuse-all" }))).toEqual({
      12: "fuse1",
      13: "fuse2",
      14: "fuse1",
      15: "fuse2",
      16: "lop",
      18: "fuse1",
      19: "fuse2",
      20: "fuse1",
      21: "fuse2",
      22: "fuse1",
      23: "fuse2",
      24: "lop",
      26: "lop",
      29: "fuse1",
      30: "fuse2",
    });
    const paper = makePlan(yolov2, { devices: workers(6), strategy: "paper" });
    expect(paper.ftp!.end).toBe(12);
    expect(paper.inputs).toMatchObject({ strategy: "paper", ftpLayers: "auto", grid: null, bytesPerElement: 4 });
    expect(paper.objective!.schemes).toBe("fixed");
    expect(() => makePlan(yolov2, { devices: workers(6), strategy: "paper", ftpEnd: 10 })).toThrow(
      "the paper's plan runs FTP on layers 0–11; it cannot use an FTP boundary of 10",
    );
    expect(() => makePlan(fcMini, { devices: workers(3), strategy: "paper" })).toThrow(
      /the paper's plan exists only for yolov2\.cfg/,
    );
  });

  it("pinned schemes are kept and the rest re-optimised (the paper's Table 2 variants)", () => {
    const pinned = new Map([
      [19, "fuse1"],
      [20, "fuse2"],
    ] as const);
    const plan = makePlan(yolov2, { devices: workers(6), ftpEnd: 17, pinned });
    expect(schemesOf(plan)).toMatchObject({ 19: "fuse1", 20: "fuse2" });
    expect(schemesOf(plan)[18]).not.toBe("fuse1");
    expect(plan.inputs!.pinned).toEqual([
      { layer: 19, scheme: "fuse1" },
      { layer: 20, scheme: "fuse2" },
    ]);
    expect(() => makePlan(yolov2, { devices: workers(6), ftpEnd: 17, pinned: new Map([[24, "fuse1"]]) })).toThrow(
      /layer 24 cannot be FUSE1/,
    );
    expect(() => makePlan(yolov2, { devices: workers(6), ftpEnd: 17, pinned: new Map([[5, "lop"]]) })).toThrow(
      /layer 5 is not a partitioned layer here/,
    );
    expect(() => makePlan(yolov2, { devices: workers(6), ftpEnd: 17, strategy: "lop", pinned })).toThrow(
      `pinned schemes only apply to the optimal strategy, not to "lop"`,
    );
  });

  it("is deterministic: same roster, same id; worker order does not matter; another roster, another id", () => {
    const a = makePlan(yolov2, { devices: workers(3) });
    const b = makePlan(yolov2, { devices: workers(3).reverse() });
    expect(b).toEqual(a);
    expect(makePlan(yolov2, { devices: workers(4) }).id).not.toBe(a.id);
  });
});

describe("makePlan and memory budgets", () => {
  const needed = (message: string) => Number(/needs ≥ ([\d.]+) MB/.exec(message)?.[1]);

  it("refuses a budget below the weights the fullest device must hold, naming model, need, N and budget", () => {
    expect(() => makePlan(yolov2, { devices: workers(6, 16) })).toThrow(
      /^yolov2 needs ≥ 34\.0 MB of weights per device on 6 devices; budget is 16 MB$/,
    );
    try {
      makePlan(yolov2, { devices: workers(6, 16) });
    } catch (err) {
      // no FTP at all needs least: ΣQ/6, rounded up by the uneven channel splits
      expect(needed((err as Error).message) * 1e6).toBeCloseTo((yolov2.totalWeights * 4) / 6, -5);
    }
    // the least a stack of layers 0–11 needs: all tiles on one device, the others balancing it
    expect(() => makePlan(yolov2, { devices: workers(6, 30), ftpEnd: 12 })).toThrow(
      /^yolov2 needs ≥ 34\.1 MB of weights per device on 6 devices with FTP on layers 0–11; budget is 30 MB$/,
    );
    expect(() =>
      makePlan(yolov2, { devices: [...workers(5, 64), { workerId: "w6", memoryBudgetBytes: 1e6 }] }),
    ).toThrow(/budgets are w1 64 MB, w2 64 MB, w3 64 MB, w4 64 MB, w5 64 MB, w6 1 MB$/);
  });

  it("keeps every device within its budget, choosing fewer FTP layers if it must", () => {
    // tiles on every device (the grid given): the deepest stack is held six times
    const grid = { rows: 3, cols: 2 };
    const free = makePlan(yolov2, { devices: workers(6), ftpEnd: "auto-comm", grid });
    const budgetMb = 40;
    expect(free.totals!.weightsPerDevice * 4).toBeGreaterThan(budgetMb * 1e6);
    const fitted = makePlan(yolov2, { devices: workers(6, budgetMb), ftpEnd: "auto-comm", grid });
    expect(fitted.ftp!.end).toBeLessThan(free.ftp!.end);
    for (const d of fitted.cost.perDevice) expect(d.weights * 4).toBeLessThanOrEqual(budgetMb * 1e6);
  });

  it("a budget that just fits the weights plans, and warns that the biases push the shards over it", () => {
    const free = makePlan(fcMini, { devices: workers(3), ftpEnd: 0 });
    const budget = free.totals!.weightsPerDevice * 4;
    const tight = makePlan(fcMini, { devices: workers(3, budget / 1e6), ftpEnd: 0 });
    expect(tight.totals!.weightsPerDevice * 4).toBeLessThanOrEqual(budget);
    expect(tight.warnings[0]).toMatch(
      /^worker w\d: its shards total [\d.]+ [kM]B with biases, [\d.]+ kB over its [\d.]+ [kM]B budget; it will reload shards while running$/,
    );
  });
});

describe("makePlan on small and odd rosters", () => {
  it("one worker: everything on it, nothing to send", () => {
    const plan = makePlan(fcMini, { devices: workers(1) });
    expect(plan.cost.elements).toBe(0);
    expect(plan.totals!.weightsPerDevice).toBe(fcMini.totalWeights);
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
    for (const strategy of ["auto", "lop", "lip", "fuse-all"] as const) {
      const plan = makePlan(fcMini, { devices: workers(3), ftpEnd: 0, strategy });
      const scheme = (l: number) => plan.steps[l]!.scheme;
      for (const [weighted, channelwise] of [
        [0, 1],
        [2, 3],
        [4, 5],
      ] as const) {
        const finished = scheme(weighted) === "lop" || scheme(weighted) === "fuse1";
        expect(scheme(channelwise), `${strategy}: layer ${channelwise} after ${scheme(weighted)}`).toBe(
          finished ? "carry" : "source",
        );
      }
      expect(scheme(9)).toBe("source"); // softmax
    }
  });

  it("channel ranges differ by at most one channel", () => {
    const sizes = channelRanges(425, 7).map(([a, b]) => b - a);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(sizes.reduce((a, b) => a + b)).toBe(425);
  });

  it("refuses an empty or duplicated roster, and a network with nothing to partition", () => {
    expect(() => makePlan(fcMini, { devices: [] })).toThrow("no workers to plan for");
    expect(() => makePlan(fcMini, { devices: [{ workerId: "a" }, { workerId: "a" }] })).toThrow(
      "worker 'a' is listed twice",
    );
    const pools = buildNetwork(
      parseCfgText(
        "[net]\nwidth=8\nheight=8\nchannels=3\n[maxpool]\nsize=2\nstride=2\n[maxpool]\nsize=2\nstride=2\n",
        "pools.cfg",
      ),
    );
    expect(() => makePlan(pools, { devices: workers(2) })).toThrow(
      "pools.cfg has no convolutional or connected layer: nothing to partition",
    );
  });
});

/**
 * The scheme ILP against exhaustive enumeration: on random chains, with and without a
 * per-device memory budget, the solver's C is the true minimum, a budget it cannot
 * meet is reported with the least weights a device must hold, and on YOLOv2 it
 * respects the sync points.
 */
import { describe, expect, it } from "vitest";
import { parseCfgText } from "../dnn/cfg.js";
import { buildNetwork, loadNetwork } from "../dnn/network.js";
import { cfgPath } from "../test/fixtures.js";
import { makePlan } from "./build.js";
import { layerCost } from "./costs.js";
import { SCHEMES, type Scheme } from "./schemes.js";
import { largestWeights, leastLargestWeights, optimalSchemes, solveSchemes } from "./ilp.js";
import { partWeights } from "./parts.js";
import { partitionUnits, type Unit } from "./units.js";
import { random, randomChain } from "./random-chains.js";

interface Enumeration {
  /** Least C over the assignments within `limit` (Infinity when none is). */
  best: number;
  /** Least and most weights on the fullest device, over every valid assignment. */
  leastLargest: number;
  mostLargest: number;
  assignments: number;
}

/**
 * Every assignment eqs. (11)–(13) allow, depth first: a prefix is extended only by a
 * scheme the constraints allow after it, and cost and per-device weights are carried
 * down the recursion, so each valid assignment costs O(N) at its leaf.
 */
function enumerate(units: readonly Unit[], devices: number, limit = Infinity): Enumeration {
  const weights = units.map(
    (u) => Object.fromEntries(SCHEMES.map((s) => [s, partWeights(u, s, devices)])) as Record<Scheme, number[]>,
  );
  const held = new Array<number>(devices).fill(0);
  const out: Enumeration = { best: Infinity, leastLargest: Infinity, mostLargest: 0, assignments: 0 };
  const walk = (k: number, prev: Scheme | undefined, cost: number) => {
    if (k === units.length) {
      const largest = Math.max(...held);
      out.assignments++;
      out.leastLargest = Math.min(out.leastLargest, largest);
      out.mostLargest = Math.max(out.mostLargest, largest);
      if (largest <= limit) out.best = Math.min(out.best, cost);
      return;
    }
    const unit = units[k]!;
    for (const s of SCHEMES) {
      if (s === "fuse1" && !unit.fusableWithNext) continue; // eq. (13) and sync points
      if ((s === "fuse2") !== (prev === "fuse1")) continue; // eq. (12)
      const reuse = prev === "lop" && units[k - 1]!.reusableByNext;
      for (const [d, w] of weights[k]![s].entries()) held[d]! += w;
      walk(k + 1, s, cost + layerCost(s, unit, devices, reuse));
      for (const [d, w] of weights[k]![s].entries()) held[d]! -= w;
    }
  };
  walk(0, undefined, 0);
  return out;
}

describe("scheme ILP against exhaustive enumeration", () => {
  it("finds the least C on 240 random chains of 2–12 layers for 2–8 devices, with and without a memory budget", () => {
    const rand = random(20240611);
    let binding = 0;
    let unmeetable = 0;
    for (let trial = 0; trial < 240; trial++) {
      const units = randomChain(rand, 2 + Math.floor(rand() * 11));
      const devices = 2 + Math.floor(rand() * 7);
      const free = enumerate(units, devices);
      const label = `trial ${trial}: ${units.length} layers, N = ${devices}`;
      expect(optimalSchemes(units, devices).elements, label).toBeCloseTo(free.best, 6);

      // A budget anywhere from a little below the least possible to the most any assignment needs.
      const budget =
        Math.floor(free.leastLargest + (rand() * 1.15 - 0.15) * (free.mostLargest - free.leastLargest)) -
        (rand() < 0.05 ? 1 : 0);
      const within = enumerate(units, devices, budget);
      const ilp = solveSchemes(units, devices, { limits: new Array(devices).fill(budget) });
      if (within.best === Infinity) {
        unmeetable++;
        expect(ilp, `${label}: budget ${budget} < ${free.leastLargest}`).toBeNull();
        expect(leastLargestWeights(units, devices)).toBe(free.leastLargest);
      } else {
        expect(ilp, `${label}: budget ${budget}`).not.toBeNull();
        expect(ilp!.elements, `${label}: budget ${budget}`).toBeCloseTo(within.best, 6);
        expect(largestWeights(units, ilp!.schemes, devices)).toBeLessThanOrEqual(budget);
        if (within.best > free.best + 1e-9) binding++;
      }
    }
    // The budgets really constrained the choice in some trials and could not be met in others.
    expect(binding).toBeGreaterThan(10);
    expect(unmeetable).toBeGreaterThan(10);
  });

  it("on random fully-connected cfgs, a budget that cannot be met is refused with the weights a device needs", () => {
    const rand = random(7);
    for (let trial = 0; trial < 40; trial++) {
      const sizes = Array.from({ length: 3 + Math.floor(rand() * 10) }, () => 1 + Math.floor(rand() * 300));
      const cfg = [
        "[net]",
        "width=1",
        "height=1",
        `channels=${sizes[0]}`,
        ...sizes.slice(1).flatMap((n) => ["[connected]", `output=${n}`, "activation=relu"]),
      ].join("\n");
      const network = buildNetwork(parseCfgText(cfg, `chain${trial}.cfg`));
      const devices = 2 + Math.floor(rand() * 7);
      const units = partitionUnits(network, 0);
      const { leastLargest } = enumerate(units, devices);
      const roster = (budgetBytes: number) =>
        Array.from({ length: devices }, (_, i) => ({ workerId: `w${i}`, memoryBudgetBytes: budgetBytes }));
      // exactly enough memory: planned, with the least C at that budget
      expect(makePlan(network, { devices: roster(leastLargest * 4), ftpEnd: 0 }).cost.elements).toBeCloseTo(
        enumerate(units, devices, leastLargest).best,
        6,
      );
      const short = leastLargest * 4 - 4;
      const error = () => makePlan(network, { devices: roster(short), ftpEnd: 0 });
      expect(error).toThrow(
        new RegExp(
          `^chain${trial} needs ≥ [\\d.]+ [kM]B of weights per device on ${devices} devices without FTP; budget is [\\d.]+ [kM]B$`,
        ),
      );
      try {
        error();
      } catch (err) {
        const [, value, unit] = /needs ≥ ([\d.]+) ([kM])B/.exec((err as Error).message)!;
        expect(Number(value) * (unit === "k" ? 1e3 : 1e6)).toBeCloseTo(leastLargest * 4, unit === "k" ? -2 : -5);
      }
    }
  });

  it("matches exhaustive search on YOLOv2 after layer 17 for 2–7 devices, and keeps routed outputs whole", () => {
    const units = partitionUnits(loadNetwork(cfgPath("yolov2")), 17);
    expect(units.map((u) => u.layer)).toEqual([18, 19, 20, 21, 22, 23, 24, 26, 29, 30]);
    for (let devices = 2; devices <= 7; devices++) {
      const ilp = optimalSchemes(units, devices);
      expect(ilp.elements).toBeCloseTo(enumerate(units, devices).best, 6);
      const at = (layer: number) => ilp.schemes[units.findIndex((u) => u.layer === layer)];
      // route 28 reads layer 24, reorg 27 reads layer 26: their outputs must be assembled.
      expect(at(24)).not.toBe("fuse1");
      expect(at(26)).not.toBe("fuse1");
    }
  });

  it("solves the whole of YOLOv2 (no FTP); how fast, npm run bench -- planner says", () => {
    const units = partitionUnits(loadNetwork(cfgPath("yolov2")), 0);
    const ilp = optimalSchemes(units, 6);
    // route 25 reads layer 16, so 16 cannot be FUSE1, and its maxpool 17 runs at the source.
    expect(ilp.schemes[units.findIndex((u) => u.layer === 16)]).not.toBe("fuse1");
    expect(units.find((u) => u.layer === 16)!.carried).toEqual([]);
  });

  it("refuses pins that contradict eqs. (12)–(13), whatever the budget", () => {
    const units = partitionUnits(loadNetwork(cfgPath("yolov2")), 17);
    expect(() =>
      solveSchemes(units, 6, {
        pinned: new Map([
          [19, "fuse2"],
          [18, "lop"],
        ]),
      }),
    ).toThrow(/no valid scheme assignment for 10 layers with 19=fuse2, 18=lop/);
    expect(() =>
      solveSchemes(units, 6, {
        pinned: new Map([
          [19, "fuse2"],
          [18, "lop"],
        ]),
        limits: new Array(6).fill(1e9),
      }),
    ).toThrow(/no valid scheme assignment/);
  });
});

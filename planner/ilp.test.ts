import { describe, expect, it } from "vitest";
import { cfgPath } from "../test/shared.js";
import { loadNetwork } from "../dnn/network.js";
import { chainCost, checkSchemes, layerCost, SCHEMES, type Scheme } from "./costs.js";
import { optimalSchemes } from "./ilp.js";
import { partitionUnits, type Unit } from "./units.js";

/** Every valid assignment, by depth-first search with the ILP's constraints as pruning. */
function bruteForceBest(units: readonly Unit[], devices: number): number {
  let best = Infinity;
  const walk = (prefix: Scheme[]) => {
    const k = prefix.length;
    if (k === units.length) {
      best = Math.min(best, chainCost(units, prefix, devices).elements);
      return;
    }
    for (const s of SCHEMES) {
      const next = [...prefix, s];
      try {
        // check the prefix against the prefix of units (the last layer's FUSE1 rule applies on completion)
        checkSchemes(units.slice(0, k + 1), next);
      } catch {
        continue;
      }
      walk(next);
    }
  };
  walk([]);
  return best;
}

/** Dynamic programming over the chain (state: the previous layer's scheme): exact, and fast on long chains. */
function dynamicBest(units: readonly Unit[], devices: number): number {
  let best = new Map<Scheme | undefined, number>([[undefined, 0]]);
  units.forEach((u, k) => {
    const next = new Map<Scheme, number>();
    for (const [prev, sofar] of best) {
      for (const s of SCHEMES) {
        if (s === "fuse1" && !u.fusableWithNext) continue;
        if ((s === "fuse2") !== (prev === "fuse1")) continue;
        const reuse = prev === "lop" && units[k - 1]!.reusableByNext;
        const total = sofar + layerCost(s, u, devices, reuse);
        if (total < (next.get(s) ?? Infinity)) next.set(s, total);
      }
    }
    best = next;
  });
  return Math.min(...best.values());
}

/** Deterministic pseudo-random numbers (mulberry32), so a failure is reproducible. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomChain(rand: () => number, length: number): Unit[] {
  const size = () => Math.round(1 + rand() * 5000);
  let inputs = size();
  return Array.from({ length }, (_, k) => {
    const outputs = size();
    const reusableByNext = k < length - 1 && rand() < 0.8;
    const unit: Unit = {
      layer: k, kind: "connected", inputs, outputs, weights: inputs * outputs, mults: inputs * outputs,
      channelsIn: inputs, channelsOut: outputs, carried: [], carriedOutputs: rand() < 0.3 ? Math.ceil(outputs / 4) : outputs,
      reusableByNext, fusableWithNext: reusableByNext && rand() < 0.8,
    };
    inputs = reusableByNext ? unit.carriedOutputs : size();
    return unit;
  });
}

describe("scheme ILP", () => {
  it("matches exhaustive search on 60 random chains", () => {
    const rand = random(20240611);
    for (let trial = 0; trial < 60; trial++) {
      const units = randomChain(rand, 1 + Math.floor(rand() * 7));
      const devices = 2 + Math.floor(rand() * 7);
      const ilp = optimalSchemes(units, devices);
      const exhaustive = bruteForceBest(units, devices);
      expect(ilp.elements, `trial ${trial}: ${JSON.stringify(ilp.schemes)}`).toBeCloseTo(exhaustive, 6);
      expect(dynamicBest(units, devices)).toBeCloseTo(exhaustive, 6);
    }
  });

  it("matches exhaustive search on YOLOv2 after layer 17 for 2–7 devices, and keeps routed outputs whole", () => {
    const units = partitionUnits(loadNetwork(cfgPath("yolov2")), 17);
    expect(units.map((u) => u.layer)).toEqual([18, 19, 20, 21, 22, 23, 24, 26, 29, 30]);
    for (let devices = 2; devices <= 7; devices++) {
      const ilp = optimalSchemes(units, devices);
      expect(ilp.elements).toBeCloseTo(bruteForceBest(units, devices), 6);
      const at = (layer: number) => ilp.schemes[units.findIndex((u) => u.layer === layer)];
      // route 28 reads layer 24, reorg 27 reads layer 26: their outputs must be assembled.
      expect(at(24)).not.toBe("fuse1");
      expect(at(26)).not.toBe("fuse1");
    }
  });

  it("solves the whole of YOLOv2 (no FTP) in well under a second", () => {
    const units = partitionUnits(loadNetwork(cfgPath("yolov2")), 0);
    const started = performance.now();
    const ilp = optimalSchemes(units, 6);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(ilp.elements).toBeCloseTo(dynamicBest(units, 6), 6);
    // route 25 reads layer 16, so 16 cannot be FUSE1, and its maxpool 17 runs at the source.
    expect(ilp.schemes[units.findIndex((u) => u.layer === 16)]).not.toBe("fuse1");
    expect(units.find((u) => u.layer === 16)!.carried).toEqual([]);
  });
});

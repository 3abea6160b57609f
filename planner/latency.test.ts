/**
 * The latency model and its search: a two-device example computed by hand, and the
 * dynamic program against exhaustive enumeration on random chains with random speeds,
 * link rates and budgets.
 */
import { describe, expect, it } from "vitest";
import { parseCfgText } from "../dnn/cfg.js";
import { buildNetwork, loadNetwork } from "../dnn/network.js";
import { cfgPath } from "../test/fixtures.js";
import { makePlan } from "./build.js";
import { checkSchemes } from "./costs.js";
import { chainSeconds, fastestSchemes, fastestSuffixes } from "./fastest-schemes.js";
import { fitsAnyScheme, type SplitContext, splitsFor } from "./fastest-plan.js";
import {
  ASSEMBLY_MACS_PER_ELEMENT,
  ASSUMED_IMAGE_BYTES,
  CODEC_MACS_PER_ELEMENT,
  FLOAT32_WIRE,
  MESSAGE_SECONDS,
  type NetworkProfile,
  OUTPUT_MACS_PER_ELEMENT,
  stageTime,
  TCP_IP_OVERHEAD,
} from "./latency.js";
import { random, randomChain } from "./random-chains.js";
import { SCHEMES, type Scheme } from "./schemes.js";
import { ftpFlows, unitCuts, unitFlows } from "./stage-flows.js";
import { wireProfile } from "./wire.js";
import type { Unit } from "./units.js";

/** One 3×3 convolution, 4 → 8 channels on a 10×10 map. */
const conv: Unit = {
  layer: 0,
  kind: "convolutional",
  inputs: 400,
  outputs: 800,
  weights: 288,
  mults: 28_800,
  channelsIn: 4,
  channelsOut: 8,
  carried: [],
  carriedOutputs: 800,
  reusableByNext: false,
  fusableWithNext: false,
};
/** The source computes 1 MMAC/s and sends 1000 B/s, receives 2000 B/s; the worker twice as fast, 500 B/s up, 4000 B/s down. */
const twoDevices: NetworkProfile = {
  slots: [
    { workerId: "source", macPerSec: 1e6, upBytesPerSec: 1000, downBytesPerSec: 2000 },
    { workerId: "w1", macPerSec: 2e6, upBytesPerSec: 500, downBytesPerSec: 4000 },
  ],
  brokerBytesPerSec: null,
  wire: FLOAT32_WIRE,
};

describe("latency model, by hand", () => {
  const o = TCP_IP_OVERHEAD;
  const messages = 2 * MESSAGE_SECONDS;
  // Each device writes what it computes: half the 800 outputs under LOP, all 800 partial sums under LIP.
  const lopCompute = (14_400 + 400 * OUTPUT_MACS_PER_ELEMENT) / 1e6;
  const lipCompute = (14_400 + 800 * OUTPUT_MACS_PER_ELEMENT) / 1e6;
  it("LOP on two devices: 1600 B out on the source's uplink, 14 400 MACs and 400 outputs on the source, 1600 B back on w1's uplink", () => {
    const t = stageTime(unitFlows([conv], 0, "lop", false, unitCuts([conv], 2)), twoDevices);
    expect(t.scatterSeconds).toBeCloseTo((1600 * o) / 1000, 12); // the source's uplink, not w1's 4000 B/s downlink
    expect(t.computeSeconds).toBeCloseTo(lopCompute, 12); // the source, the slower of the two
    expect(t.gatherSeconds).toBeCloseTo((1600 * o) / 500, 12); // w1's uplink, not the source's 2000 B/s downlink
    expect(t.messageSeconds).toBeCloseTo(messages + (800 * ASSEMBLY_MACS_PER_ELEMENT) / 1e6, 12);
    expect(t.seconds).toBeCloseTo(4.8 * o + lopCompute + messages + 0.048, 12);
    expect(t.bound).toBe("w1 uplink");
    expect([t.scatterBytes, t.gatherBytes]).toEqual([1600, 1600]);
  });
  it("LIP on two devices: half the input out, the whole output back as partial sums, which the source adds", () => {
    const t = stageTime(unitFlows([conv], 0, "lip", false, unitCuts([conv], 2)), twoDevices);
    expect(t.seconds).toBeCloseTo((800 * o) / 1000 + lipCompute + (3200 * o) / 500 + messages + (1600 * 60) / 1e6, 12);
  });
  it("the broker on a host of its own carries every byte: its link bounds when it is the slowest", () => {
    const t = stageTime(unitFlows([conv], 0, "lop", false, unitCuts([conv], 2)), {
      ...twoDevices,
      brokerBytesPerSec: 100,
    });
    expect(t.scatterSeconds).toBeCloseTo((1600 * o) / 100, 12);
    expect(t.bound).toBe("broker link");
  });
  it("LOP's whole input goes out once for both workers when the broker has a host of its own, twice when it runs on the source", () => {
    const w2 = { ...twoDevices.slots[1]!, workerId: "w2" };
    const three: NetworkProfile = { ...twoDevices, slots: [...twoDevices.slots, w2] };
    const flows = unitFlows([conv], 0, "lop", false, unitCuts([conv], 3));
    // One publish of the 1600 B input reaches both workers through the broker (layerIn).
    expect(stageTime(flows, { ...three, brokerBytesPerSec: 1e9 }).scatterSeconds).toBeCloseTo((1600 * o) / 1000, 12);
    // The broker on the source sends each worker its copy over the source's own uplink.
    expect(stageTime(flows, three).scatterSeconds).toBeCloseTo((2 * 1600 * o) / 1000, 12);
  });
  it("LOP as float16: half the bytes on every link, plus encoding at the sender and decoding at the receiver", () => {
    const f16 = { ...twoDevices, wire: wireProfile("f16") };
    const t = stageTime(unitFlows([conv], 0, "lop", false, unitCuts([conv], 2)), f16);
    const { encode, decode } = CODEC_MACS_PER_ELEMENT.float16;
    // 400 elements each way: the source encodes and w1 decodes the input, w1 encodes and the source decodes its output.
    expect(t.scatterSeconds).toBeCloseTo((800 * o) / 1000 + (400 * encode) / 1e6 + (400 * decode) / 2e6, 12);
    expect(t.gatherSeconds).toBeCloseTo((800 * o) / 500 + (400 * encode) / 2e6 + (400 * decode) / 1e6, 12);
    expect([t.scatterBytes, t.gatherBytes, t.scatterWire, t.gatherWire]).toEqual([800, 800, "float16", "float16"]);
  });
  it("LOP on three devices as float16: the source encodes the input every part shares once", () => {
    const three = { ...twoDevices, slots: [...twoDevices.slots, { ...twoDevices.slots[1]!, workerId: "w2" }] };
    const t = stageTime(unitFlows([conv], 0, "lop", false, unitCuts([conv], 3)), {
      ...three,
      wire: wireProfile("f16"),
    });
    const { encode, decode } = CODEC_MACS_PER_ELEMENT.float16;
    expect(t.scatterSeconds).toBeCloseTo((1600 * o) / 1000 + (400 * encode) / 1e6 + (400 * decode) / 2e6, 12);
  });
  it("auto takes, per phase, the faster of float32 and float16: float16 where links bound, float32 where the CPU does", () => {
    const flows = unitFlows([conv], 0, "lop", false, unitCuts([conv], 2));
    expect(stageTime(flows, { ...twoDevices, wire: wireProfile("auto") })).toMatchObject({
      scatterWire: "float16",
      gatherWire: "float16",
    });
    const fastLinks = twoDevices.slots.map((s) => ({ ...s, upBytesPerSec: 1e9, downBytesPerSec: 1e9 }));
    // Links of 1 GB/s and the broker on a host of its own: float32's 4 B per element through the
    // clients cost less than float16's 2 B plus coding them.
    const t = stageTime(flows, { slots: fastLinks, brokerBytesPerSec: 1e9, wire: wireProfile("auto") });
    expect([t.scatterWire, t.gatherWire]).toEqual(["float32", "float32"]);
  });
  it("FTP: each tile device gets the request's image instead of its regions when that is faster, and decodes it itself", () => {
    const ftp = [
      { tiles: [0], scatterElements: 0, gatherElements: 0, peakElements: 0, mults: 1e5, writes: 2000 },
      { tiles: [1], scatterElements: 200_000, gatherElements: 1000, peakElements: 0, mults: 1e5, writes: 2000 },
    ];
    const flows = ftpFlows(ftp, 2000, 4e5);
    const t = stageTime(flows, { ...twoDevices, wire: wireProfile("auto") });
    expect(t.scatterImage).toBe(true);
    expect(t.scatterBytes).toBe(ASSUMED_IMAGE_BYTES);
    expect(t.scatterSeconds).toBeCloseTo((ASSUMED_IMAGE_BYTES * o) / 1000 + 4e5 / 2e6, 9);
    // float32 never sends the image: what the plan asked for is tensors as darknet computes them.
    expect(stageTime(flows, twoDevices).scatterImage).toBe(false);
  });
  it("the search picks LOP for the one layer: its 4.8 s of links beat LIP's 7.2 s", () => {
    expect(fastestSchemes([conv], 2, twoDevices).schemes).toEqual(["lop"]);
  });
});

/** Every valid assignment's predicted time: the least, by depth-first enumeration of what eqs. (11)–(13) allow. */
function bruteForce(units: readonly Unit[], split: readonly number[], p: NetworkProfile): number {
  let best = Infinity;
  const walk = (prefix: Scheme[]) => {
    const k = prefix.length;
    if (k === units.length) {
      checkSchemes(units, prefix);
      best = Math.min(best, chainSeconds(units, prefix, split, p));
      return;
    }
    for (const s of SCHEMES) {
      if (s === "fuse1" && !(units[k]!.fusableWithNext && k + 1 < units.length)) continue;
      if ((s === "fuse2") !== (prefix[k - 1] === "fuse1")) continue;
      walk([...prefix, s]);
    }
  };
  walk([]);
  return best;
}

function randomProfile(rand: () => number, devices: number): NetworkProfile {
  const rate = () => (rand() < 0.2 ? Infinity : 50 + rand() * 5000);
  return {
    slots: Array.from({ length: devices }, (_, d) => ({
      workerId: `d${d}`,
      macPerSec: 1e4 * (0.2 + rand() * 5),
      upBytesPerSec: rate(),
      downBytesPerSec: rate(),
    })),
    brokerBytesPerSec: rand() < 0.3 ? 100 + rand() * 20000 : null,
    // Any of the wire's choices: each phase takes its fastest dtype, which the search must see as the enumeration does.
    wire: wireProfile((["auto", "f32", "f16", "q8"] as const)[Math.floor(rand() * 4)]!),
  };
}

describe("latency search against exhaustive enumeration", () => {
  it("on 150 random chains of 2–8 layers, 2–5 devices, random speeds, rates and budgets: the same least time", () => {
    const rand = random(20261201);
    let divisions = 0;
    for (let trial = 0; trial < 150; trial++) {
      const units = randomChain(rand, 2 + Math.floor(rand() * 7));
      const N = 2 + Math.floor(rand() * 4);
      const profile = randomProfile(rand, N);
      const total = units.reduce((a, u) => a + u.weights, 0);
      const limits = Array.from({ length: N }, () => (rand() < 0.3 ? Infinity : total * (0.2 + rand())));
      const ctx: SplitContext = {
        base: new Array(N).fill(0),
        limits,
        totalWeights: total,
        profile,
        rate: profile.slots.map((s) => s.macPerSec),
      };
      let search = Infinity;
      let brute = Infinity;
      for (let m = 1; m <= N; m++)
        for (const split of splitsFor(m, ctx).filter((s) => fitsAnyScheme(units, s, ctx))) {
          divisions++;
          search = Math.min(search, fastestSchemes(units, split, profile).seconds);
          brute = Math.min(brute, bruteForce(units, split, profile));
          // Every division the search keeps fits every budget, whatever the schemes.
          expect(
            split.reduce((a, b) => a + b, 0),
            `trial ${trial}`,
          ).toBeCloseTo(1, 9);
        }
      if (brute === Infinity) expect(search, `trial ${trial}`).toBe(Infinity);
      else expect(search, `trial ${trial}: ${units.length} layers, N = ${N}`).toBeCloseTo(brute, 9);
    }
    expect(divisions).toBeGreaterThan(300);
  });
});

describe("the suffix table every FTP boundary shares", () => {
  it("gives each suffix the same least time as a search on that suffix alone", () => {
    const rand = random(7);
    for (let trial = 0; trial < 60; trial++) {
      const units = randomChain(rand, 2 + Math.floor(rand() * 10));
      const N = 2 + Math.floor(rand() * 4);
      const profile = randomProfile(rand, N);
      const table = fastestSuffixes(units, N, profile);
      for (let k = 0; k < units.length; k++) {
        const alone = fastestSchemes(units.slice(k), N, profile);
        expect(table(k).seconds, `trial ${trial}, suffix ${k}`).toBeCloseTo(alone.seconds, 9);
        expect(chainSeconds(units.slice(k), table(k).schemes, N, profile)).toBeCloseTo(alone.seconds, 9);
      }
    }
  });
});

describe("planning for time", () => {
  const yolov2 = loadNetwork(cfgPath("yolov2"));
  const devices = (n: number, mbit: number) =>
    Array.from({ length: n }, (_, i) => ({
      workerId: i === 0 ? "source" : `w${i}`,
      ...(i === 0 ? { role: "source" as const } : {}),
      memoryBudgetBytes: 120e6,
      gmacPerSec: 12,
      uplinkBitsPerSec: mbit * 1e6,
      downlinkBitsPerSec: mbit * 1e6,
    }));
  it("predicts the default plan no slower than the paper's C plan, all-LOP and the authors' plan on the same devices", () => {
    for (const mbit of [10, 100, 1000]) {
      const mine = makePlan(yolov2, { devices: devices(6, mbit) }).prediction!;
      expect(mine.objective).toBe("latency");
      for (const other of [
        makePlan(yolov2, { devices: devices(6, mbit), objective: "comm" }),
        makePlan(yolov2, { devices: devices(6, mbit), objective: "comm", strategy: "lop", ftpEnd: 12 }),
        makePlan(yolov2, { devices: devices(6, mbit), objective: "comm", strategy: "paper" }),
      ])
        expect(mine.seconds, `${mbit} mbit vs ${other.inputs?.strategy}`).toBeLessThanOrEqual(
          other.prediction!.seconds,
        );
    }
  });
  it("plans a chain of 100 convolutions (where the ILP's branch and bound takes minutes)", () => {
    const layers = Array.from(
      { length: 100 },
      () => "[convolutional]\nfilters=64\nsize=3\nstride=1\npad=1\nactivation=leaky",
    ).join("\n\n");
    const chain = `[net]\nwidth=32\nheight=32\nchannels=64\n\n${layers}\n`;
    const net = buildNetwork(parseCfgText(chain, "chain100.cfg"));
    const plan = makePlan(net, { devices: devices(4, 100), ftpEnd: 0 });
    expect(plan.steps.filter((s) => s.scheme !== "source" && s.scheme !== "carry")).toHaveLength(100);
  });
});

import { describe, expect, it } from "vitest";
import { balancedSplit } from "./candidates.js";
import { layerCost } from "./costs.js";
import { channelRanges, fractionsFor, shares } from "./parts.js";

const sizes = (ranges: [number, number][]) => ranges.map(([a, b]) => b - a);

describe("channel ranges", () => {
  it("even parts differ by one channel at most, the larger first, and tile [0, n)", () => {
    expect(sizes(channelRanges(425, 7))).toEqual([61, 61, 61, 61, 61, 60, 60]);
    expect(channelRanges(3, 6)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 3],
      [3, 3],
      [3, 3],
    ]);
    expect(channelRanges(425, 7)[6]).toEqual([365, 425]);
  });

  it("uneven fractions round to whole channels by largest remainder, the earlier slot on a tie", () => {
    const ranges = channelRanges(100, [0.125, 0.125, 0.25, 0.5]);
    expect(sizes(ranges)).toEqual([13, 12, 25, 50]);
    expect(ranges.at(-1)![1]).toBe(100);
    for (let p = 1; p < ranges.length; p++) expect(ranges[p]![0]).toBe(ranges[p - 1]![1]);
    // fewer channels than slots: one each, the first slots first, whatever the fractions
    expect(fractionsFor(2, [0.1, 0.2, 0.7])).toEqual([0.5, 0.5, 0]);
  });

  it("shares follow the whole channels, not the ideal fractions", () => {
    expect(shares({ channelsIn: 8, channelsOut: 3 }, "lop", [0.5, 0.25, 0.25])).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(shares({ channelsIn: 8, channelsOut: 3 }, "lip", [0.5, 0.25, 0.25])).toEqual([0.5, 0.25, 0.25]);
  });
});

describe("balancedSplit", () => {
  it("equal bases give the paper's equal parts", () => {
    expect(balancedSplit([0, 0, 0], 90)).toBe(3);
    expect(balancedSplit([5, 5], 90)).toBe(2);
  });

  it("fills every slot to the same level above what it holds already", () => {
    const f = balancedSplit([30, 30, 0, 0], 240) as number[];
    const held = f.map((x, d) => [30, 30, 0, 0][d]! + x * 240);
    for (const h of held) expect(h).toBeCloseTo(75, 9);
    expect(f.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it("leaves out a slot that already holds more than the level", () => {
    const f = balancedSplit([100, 0, 0], 60) as number[];
    expect(f).toEqual([0, 0.5, 0.5]);
  });
});

describe("the cost model with uneven parts", () => {
  const unit = { inputs: 1000, outputs: 600, carriedOutputs: 600, channelsIn: 60, channelsOut: 60 };
  it("is the paper's formulas when the parts are equal", () => {
    expect(layerCost("lop", unit, [1 / 4, 1 / 4, 1 / 4, 1 / 4], true)).toBeCloseTo(layerCost("lop", unit, 4, true), 9);
    expect(layerCost("lop", unit, 4, false)).toBeCloseTo(1000 * 3 + (600 * 3) / 4, 9);
    expect(layerCost("lip", unit, 4, false)).toBeCloseTo((1000 * 3) / 4 + 600 * 3, 9);
  });

  it("counts what leaves the source: everything but its own fraction f₀", () => {
    const split = [0.1, 0.3, 0.6];
    // LOP: the input to the two others, less what each holds from a LOP before; the 90 % of K not computed at the source comes back
    expect(layerCost("lop", unit, split, false)).toBeCloseTo(1000 * 2 + 600 * 0.9, 9);
    expect(layerCost("lop", unit, split, true)).toBeCloseTo(1000 * 0.7 + 1000 * 0.4 + 600 * 0.9, 9);
    expect(layerCost("lip", unit, split, false)).toBeCloseTo(1000 * 0.9 + 600 * 2, 9);
    expect(layerCost("fuse1", unit, split, true)).toBeCloseTo(1000 * 0.7 + 1000 * 0.4, 9);
    expect(layerCost("fuse2", unit, split, false)).toBeCloseTo(600 * 2, 9);
  });
});

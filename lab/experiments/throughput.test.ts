import { describe, expect, it } from "vitest";
import type { StreamReport } from "../../cli/camera-stream.js";
import { p99Plot, ratesFor, sweepRates, type ThroughputRun, throughputMarkdown, throughputPlot } from "./throughput.js";

const row = (offeredFps: number, throughputFps: number, errors: Record<string, number> = {}): StreamReport => ({
  offeredFps,
  sent: 10,
  results: 10 - Object.values(errors).reduce((a, b) => a + b, 0),
  errors,
  unanswered: 0,
  duplicates: 0,
  throughputFps,
  latencyMs: { p50: 900, p90: 1500, p99: 2000 },
});
const run = (rows: StreamReport[]): ThroughputRun => ({
  where: "loopback",
  model: "yolov2",
  devices: 6,
  durationS: 60,
  singleRequestMs: 1000,
  rows,
});

describe("throughput report", () => {
  it("offers multiples of 1/L unless rates are given", () => {
    expect(ratesFor(undefined, 2000)).toEqual([0.25, 0.5, 0.75, 1, 1.25, 1.5]);
    expect(ratesFor([0.1, 0.2], 2000)).toEqual([0.1, 0.2]);
  });

  it("holds the saturated rate to 2 × 1/L, and counts drops, refusals and the rest apart", () => {
    const met = throughputMarkdown(run([row(1, 1), row(3, 2.4, { busy: 2, dropped: 1, timeout: 1 })]));
    expect(met).toContain("At saturation 2.400 frames/s (offered 3) with p99 2.00 s: 2.40 × 1/L (target ≥ 2 × ✓)");
    expect(met).toContain("| 3 | 10 | 2.400 | 0.90 | 2.00 | 6 | 1 | 2 | 1 | 0 |");
    expect(throughputMarkdown(run([row(1, 1), row(2, 1.5)]))).toContain("1.50 × 1/L (target ≥ 2 × ✗)");
  });

  it("plots achieved frames/s and latency against the offered rate", () => {
    const r = run([row(1, 1), row(2, 1.8)]);
    expect(throughputPlot(r).match(/<g class="series" data-name="([^"]+)"/g)).toHaveLength(3);
    expect(throughputPlot(r)).toContain("<title>achieved: 2, 1.8</title>");
    expect(p99Plot(r)).toContain("<title>p99: 2, 2</title>");
  });

  it("sweeps the rates lowest first, each for its duration", async () => {
    const asked: [number, number][] = [];
    const rows = await sweepRates(
      async (fps, count) => {
        asked.push([fps, count]);
        return row(fps, fps);
      },
      [2, 0.5],
      10,
      () => undefined,
      0,
    );
    expect(asked).toEqual([
      [0.5, 5],
      [2, 20],
    ]);
    expect(rows.map((r) => r.offeredFps)).toEqual([0.5, 2]);
  });
});

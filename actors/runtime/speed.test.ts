import { describe, expect, it } from "vitest";
import type { CompiledStage, Runtime } from "../../dnn/runtime.js";
import { measureGmacPerSec, MIN_RUNS, MIN_WALL_MS, PROBE_MACS } from "./speed.js";

/**
 * A runtime whose conv takes the times given, run after run (the last one repeated),
 * on a clock of its own: the probe sees exactly the wall time a device would.
 */
function fakeDevice(runMs: (run: number) => number) {
  let now = 0;
  const record = { runs: 0, released: false };
  const stage: CompiledStage = {
    input: { c: 128, h: 26, w: 26 },
    outputs: [{ c: 128, h: 26, w: 26 }],
    run: async () => {
      now += runMs(record.runs++);
      return [new Float32Array(0)];
    },
    release: async () => {
      record.released = true;
    },
  };
  const runtime: Runtime = { compile: async () => stage };
  return { runtime, clock: { now: () => now }, record, elapsed: () => now };
}

/** GMAC/s as the probe reports them: to 3 significant digits. */
const gmacs = (macs: number, ms: number) => Number((macs / 1e6 / ms).toPrecision(3));

describe("measureGmacPerSec", () => {
  it("reports the speed kept up under a CPU quota (MACs over wall time), not the burst inside one period", async () => {
    // 0.15 of a core: a 15 ms run at full speed, then the rest of the 100 ms period throttled.
    const warmUpMs = 40;
    const device = fakeDevice((run) => (run === 0 ? warmUpMs : run % 2 === 1 ? 15 : 85));
    const speed = await measureGmacPerSec(device.runtime, device.clock);
    const timedRuns = device.record.runs - 1;
    const wallMs = device.elapsed() - warmUpMs;
    expect(wallMs).toBeGreaterThanOrEqual(MIN_WALL_MS);
    expect(speed).toBe(gmacs(timedRuns * PROBE_MACS, wallMs));
    expect(speed).toBeCloseTo(gmacs(PROBE_MACS, 50), 1); // one run per 50 ms on average
    expect(speed).toBeLessThan(gmacs(PROBE_MACS, 15) / 3); // the best run alone would say 6.65
    expect(device.record.released).toBe(true);
  });

  it("stops just past its minimum wall time on a fast device", async () => {
    const device = fakeDevice(() => 15);
    const speed = await measureGmacPerSec(device.runtime, device.clock);
    expect(device.record.runs - 1).toBe(MIN_WALL_MS / 15);
    expect(speed).toBe(gmacs(PROBE_MACS, 15));
  });

  it("runs at least MIN_RUNS times on a slow device", async () => {
    const device = fakeDevice(() => 400);
    const speed = await measureGmacPerSec(device.runtime, device.clock);
    expect(device.record.runs - 1).toBe(MIN_RUNS);
    expect(speed).toBe(gmacs(PROBE_MACS, 400));
  });

  it("never reports 0, however slow the device", async () => {
    const device = fakeDevice(() => 60_000);
    expect(await measureGmacPerSec(device.runtime, device.clock)).toBeGreaterThan(0);
  });
});

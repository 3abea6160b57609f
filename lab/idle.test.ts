/** The settle before a timed request: it waits while any process of the deployment still computes. */
import { describe, expect, it } from "vitest";
import { IDLE_WINDOW_MS, untilIdle } from "./experiment.js";

describe("untilIdle", () => {
  it("waits while a process keeps using CPU, and returns once every one rests", async () => {
    const started = Date.now();
    // The source computes at half a core for the first second, then rests; a worker never computes.
    const cpuMs = (): Record<string, number> => {
      const t = Math.min(Date.now() - started, 1000);
      return { source: t / 2, w1: 5 };
    };
    await untilIdle({ cpuMs });
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(1000);
    expect(waited).toBeLessThan(1000 + 3 * IDLE_WINDOW_MS);
  });

  it("returns after one window when nothing runs", async () => {
    const started = Date.now();
    await untilIdle({ cpuMs: () => ({ source: 100, w1: 50 }) });
    expect(Date.now() - started).toBeLessThan(2 * IDLE_WINDOW_MS);
  });
});

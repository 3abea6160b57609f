import { beforeAll, describe, expect, it } from "vitest";
import { measureLinkRate, measureLinks, type LinkRate } from "./linkrate.js";
import { requireRoot, useLabs } from "./test-support.js";

/** "device 2 down: 95.8 of 100 mbit", so a failure shows every link at once. */
const describeRates = (rates: LinkRate[]): string[] =>
  rates.map((r) => `device ${r.device} ${r.direction}: ${r.mbit.toFixed(1)} of ${r.setMbit} mbit`);

describe("link rates", () => {
  beforeAll(requireRoot);
  const createLab = useLabs("efrate");

  it("carries the set rate within 10 %, both ways, at 100 and 10 mbit", async () => {
    const lab = await createLab({ devices: 3, bandwidthMbit: 100 });
    // All three devices at once: each has its own link, and it keeps the test short.
    const at100 = await measureLinks(lab, { durationMs: 800, warmupMs: 300, parallel: true });
    expect(at100).toHaveLength(6);
    for (const r of at100) expect(Math.abs(r.ratio - 1), describeRates(at100).join("\n")).toBeLessThanOrEqual(0.1);

    await lab.setBandwidth(10);
    const at10 = await measureLinks(lab, { durationMs: 800, warmupMs: 300, parallel: true });
    for (const r of at10) expect(Math.abs(r.ratio - 1), describeRates(at10).join("\n")).toBeLessThanOrEqual(0.1);
  });

  it("shapes each device's link at its own rate", async () => {
    const lab = await createLab({ devices: 2, bandwidthMbit: [100, 10] });
    const [fast, slow] = await Promise.all([
      measureLinkRate(lab, 0, "down", { durationMs: 700 }),
      measureLinkRate(lab, 1, "down", { durationMs: 700 }),
    ]);
    expect(fast!.mbit).toBeGreaterThan(85);
    expect(slow!.mbit).toBeLessThan(11);
    await expect(measureLinkRate(lab, 2, "up")).rejects.toThrow(/no device 2/);
  });
});

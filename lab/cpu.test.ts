import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { deviceCgroup } from "./names.js";
import { requireRoot, useLabs } from "./test-support.js";

/** Spins for 1.5 s and prints the CPU time it got over the wall time it took. */
const BUSY = `const t0 = Date.now(), c0 = process.cpuUsage();
while (Date.now() - t0 < 1500);
const c = process.cpuUsage(c0);
console.log(((c.user + c.system) / 1e3) / (Date.now() - t0));`;

function share(child: ChildProcess): Promise<number> {
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (out += s));
  return new Promise((resolve, reject) =>
    child.once("close", (code) =>
      code === 0 ? resolve(Number(out.trim())) : reject(new Error(`busy loop exited ${code}: ${out}`)),
    ),
  );
}

/** Spins for 400 ms and prints the longest stretch it ran without being stopped, in ms. */
const LONGEST_RUN = `const t0 = Date.now();
let last = performance.now(), start = last, longest = 0;
while (Date.now() - t0 < 400) {
  const now = performance.now();
  if (now - last > 1) start = now; // stopped (throttled or preempted) since the last look
  longest = Math.max(longest, now - start);
  last = now;
}
console.log(longest);`;

describe("cpu quota", () => {
  beforeAll(requireRoot);
  const createLab = useLabs("efcpu");

  // Shares well below what a busy 2-core machine still gives any one process, so the
  // quota is what limits the loop, not other work running beside this test.
  it("gives a busy loop on each device about its share of one core", async () => {
    const lab = await createLab({ devices: 2, bandwidthMbit: 100, cpuShare: [0.25, 0.1] });
    const [quarter, tenth] = await Promise.all([0, 1].map((d) => share(lab.exec(d, [process.execPath, "-e", BUSY]))));
    expect(quarter).toBeGreaterThanOrEqual(0.15);
    expect(quarter).toBeLessThanOrEqual(0.35);
    expect(tenth).toBeGreaterThanOrEqual(0.05);
    expect(tenth).toBeLessThanOrEqual(0.15);
  });

  it("spreads a device's share over short periods: a quarter core never runs 25 ms at full speed", async () => {
    const lab = await createLab({ devices: 1, bandwidthMbit: 100, cpuShare: 0.25 });
    const period = Number(readFileSync(`${deviceCgroup(lab.id, 0)}/cpu.cfs_period_us`, "utf8"));
    expect([period, Number(readFileSync(`${deviceCgroup(lab.id, 0)}/cpu.cfs_quota_us`, "utf8"))]).toEqual([
      10_000, 2_500,
    ]);
    const longestMs = await share(lab.exec(0, [process.execPath, "-e", LONGEST_RUN]));
    // 0.25 × 10 ms = 2.5 ms at a time (the kernel's 100 ms period would allow 25 ms).
    expect(longestMs).toBeGreaterThan(0);
    expect(longestMs).toBeLessThan(10);
  });
});

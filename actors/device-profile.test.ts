/**
 * What the devices of a local system announce of themselves reaches the plan: the
 * speed and link rates it starts them with (a worker process through its flags), or,
 * with no speed given, the one speed this process measured for them all.
 */
import { afterEach, describe, expect, it } from "vitest";
import { startTinySystem } from "../test/systems.js";
import type { LocalSystem } from "./system.js";

let system: LocalSystem | undefined;
afterEach(async () => {
  await system?.stop();
  system = undefined;
});

describe("a local system's device profile", () => {
  it("gives a worker process the speed and links it is started with, and the plan carries them", async () => {
    system = await startTinySystem({
      devices: 3,
      workers: "process",
      gmacPerSec: 7.5,
      links: [{ uplinkBitsPerSec: 1e9 }, { uplinkBitsPerSec: 10e6, downlinkBitsPerSec: 50e6 }],
    });
    await system.source.ready(120_000);
    const devices = system.planner.current()!.devices;
    const byId = new Map(devices.map((d) => [d.workerId, d]));
    const profile = (id: string) => {
      const d = byId.get(id)!;
      return [d.gmacPerSec, d.uplinkBitsPerSec, d.downlinkBitsPerSec];
    };
    expect(devices).toHaveLength(3);
    expect(profile("source")).toEqual([7.5, 1e9, undefined]);
    expect(profile("worker-1")).toEqual([7.5, 10e6, 50e6]);
    expect(profile("worker-2")).toEqual([7.5, undefined, undefined]);
    expect(Object.keys(byId.get("worker-2")!)).not.toContain("uplinkBitsPerSec");
  });

  it("without a speed, announces the one this process measured for every device", async () => {
    system = await startTinySystem({ devices: 2, workers: "inline", gmacPerSec: undefined });
    await system.source.ready(120_000);
    const speeds = system.planner.current()!.devices.map((d) => d.gmacPerSec);
    expect(speeds).toHaveLength(2);
    expect(speeds[0]).toBeGreaterThan(0);
    expect(speeds[1]).toBe(speeds[0]);
  });
});

import { describe, expect, it } from "vitest";
import type { Presence } from "../broker/messages.js";
import { budgetOf, rosterDevices } from "./roster.js";
import { deviceSchema } from "./schema.js";

const presence = (
  workerId: string,
  memoryMB: number,
  baselineMB?: number,
  role: Presence["role"] = "worker",
): Presence => ({
  workerId,
  memoryBudgetBytes: memoryMB * 1e6,
  ...(baselineMB === undefined ? {} : { baselineBytes: baselineMB * 1e6 }),
  gmacPerSec: 40,
  startedAt: "2025-01-01T00:00:00Z",
  version: "0.1.0",
  role,
});

describe("roster → devices", () => {
  it("gives each device its memory less its baseline, sorted by id, the source marked", () => {
    const { devices, refused } = rosterDevices([
      presence("pi-2", 512, 97.5),
      presence("cam", 1024, 130, "source"),
      presence("pi-1", 256, 90),
    ]);
    expect(devices).toEqual([
      { workerId: "cam", memoryBudgetBytes: 894e6, gmacPerSec: 40, role: "source" },
      { workerId: "pi-1", memoryBudgetBytes: 166e6, gmacPerSec: 40 },
      { workerId: "pi-2", memoryBudgetBytes: 414.5e6, gmacPerSec: 40 },
    ]);
    expect(refused).toEqual([]);
  });

  it("carries each device's link rates into its plan device, and none for a device that announces none", () => {
    const { devices } = rosterDevices([
      { ...presence("pi-1", 256, 90), uplinkBitsPerSec: 10e6, downlinkBitsPerSec: 100e6 },
      { ...presence("cam", 512, 100, "source"), uplinkBitsPerSec: 1e9 },
      presence("pi-2", 256, 90),
    ]);
    expect(devices).toEqual([
      { workerId: "cam", memoryBudgetBytes: 412e6, gmacPerSec: 40, uplinkBitsPerSec: 1e9, role: "source" },
      { workerId: "pi-1", memoryBudgetBytes: 166e6, gmacPerSec: 40, uplinkBitsPerSec: 10e6, downlinkBitsPerSec: 100e6 },
      { workerId: "pi-2", memoryBudgetBytes: 166e6, gmacPerSec: 40 },
    ]);
    expect(Object.keys(devices[2]!)).not.toContain("uplinkBitsPerSec");
    expect(devices.map((d) => deviceSchema.parse(d))).toEqual(devices);
  });

  it("counts no baseline for a device that announces none", () => {
    expect(budgetOf(presence("old", 64))).toBe(64e6);
    expect(rosterDevices([presence("old", 64)]).devices.map((d) => d.memoryBudgetBytes)).toEqual([64e6]);
  });

  it("leaves out a device whose memory is not above its baseline, naming it and both numbers", () => {
    const { devices, refused } = rosterDevices([
      presence("pi-1", 256, 90),
      presence("pi-zero", 64, 97.3),
      presence("edge", 90, 90),
    ]);
    expect(devices.map((d) => d.workerId)).toEqual(["pi-1"]);
    expect(refused).toEqual([
      "device edge has 90 MB of memory, not more than its baseline of 90 MB (node, onnxruntime and MQTT before any weights): left out",
      "device pi-zero has 64 MB of memory, not more than its baseline of 97.3 MB (node, onnxruntime and MQTT before any weights): left out",
    ]);
  });
});

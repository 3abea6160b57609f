import { describe, expect, it } from "vitest";
import { presenceSchema } from "../../broker/messages.js";
import { type DeviceIdentity, presenceOf } from "./device.js";

const identity = (links: { uplinkBitsPerSec?: number | undefined; downlinkBitsPerSec?: number }): DeviceIdentity => ({
  deviceId: "pi-1",
  role: "worker",
  options: { memoryBudgetBytes: 512e6, gmacPerSec: 2.4, ...links },
  memory: { baselineBytes: 97_000_000 },
  startedAt: "2026-12-01T10:00:00.000Z",
});

describe("a device's presence", () => {
  it("announces the link rates it was given, and the wire's schema takes them", () => {
    const presence = presenceOf(identity({ uplinkBitsPerSec: 10e6, downlinkBitsPerSec: 100e6 }), {
      planId: "0123456789abcdef",
    });
    expect(presence).toMatchObject({
      uplinkBitsPerSec: 10e6,
      downlinkBitsPerSec: 100e6,
      readyPlanId: "0123456789abcdef",
    });
    expect(presenceSchema.parse(JSON.parse(JSON.stringify(presence)))).toEqual(presence);
  });

  it("without rates has no such fields (not limited or not known) and stays valid", () => {
    const presence = presenceOf(identity({ uplinkBitsPerSec: undefined }));
    expect(Object.keys(presence)).not.toContain("uplinkBitsPerSec");
    expect(Object.keys(presence)).not.toContain("downlinkBitsPerSec");
    expect(presenceSchema.parse(presence)).toEqual(presence);
  });

  it("with one rate carries that one alone", () => {
    const presence = presenceOf(identity({ downlinkBitsPerSec: 512e3 }));
    expect(presence.downlinkBitsPerSec).toBe(512e3);
    expect(Object.keys(presence)).not.toContain("uplinkBitsPerSec");
    expect(presenceSchema.parse(presence)).toEqual(presence);
  });

  it("a rate that is not a positive number is refused by the wire's schema", () => {
    const presence = { ...presenceOf(identity({})), uplinkBitsPerSec: 0 };
    expect(presenceSchema.safeParse(presence).success).toBe(false);
  });
});

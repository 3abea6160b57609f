import { describe, expect, it } from "vitest";
import { WireError } from "../../core/errors.js";
import { decodePresence, presenceSchema } from "../../broker/messages.js";
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

  it.each([
    ["1 PB of memory", { memoryBudgetBytes: 1e15 }, "field memoryBudgetBytes: more than 16 TiB: not a real device"],
    ["a baseline of 1 PB", { baselineBytes: 1e15 }, "field baselineBytes: more than 16 TiB: not a real device"],
    ["1e9 GMAC/s", { gmacPerSec: 1e9 }, "field gmacPerSec: more than 1e6 GMAC/s: not a real device"],
    ["a 10 Tbit/s uplink", { uplinkBitsPerSec: 1e13 }, "field uplinkBitsPerSec: more than 1 Tbit/s: not a real link"],
  ])("a presence claiming %s is refused on the wire, naming the field", (_label, claim, problem) => {
    const topic = "edgefuse/v1/default/workers/ghost";
    const payload = Buffer.from(JSON.stringify({ ...presenceOf(identity({})), workerId: "ghost", ...claim }));
    expect(() => decodePresence(topic, payload)).toThrow(new WireError(topic, problem));
  });

  it("a presence at the bounds (16 TiB, 1e6 GMAC/s, 1 Tbit/s) is taken", () => {
    const presence = {
      ...presenceOf(identity({ uplinkBitsPerSec: 1e12 })),
      memoryBudgetBytes: 2 ** 44,
      gmacPerSec: 1e6,
    };
    expect(presenceSchema.parse(presence)).toEqual(presence);
  });
});

import { describe, expect, it } from "vitest";
import { LabError } from "../core/errors.js";
import { parseLabName } from "./names.js";
import { planLab } from "./options.js";

describe("lab plan", () => {
  it("derives names, addresses, rates and shares for every device", () => {
    const plan = planLab(
      { devices: 3, bandwidthMbit: [10, 100, 1000], cpuShare: 0.5, subnet: "192.168.9.0/24", namePrefix: "x" },
      "x-42-abcdef",
    );
    expect(plan.hubNamespace).toBe("x-42-abcdef-hub");
    expect(plan.hubAddress).toBe("192.168.9.1");
    expect(plan.cgroup).toBe("/sys/fs/cgroup/cpu/x-42-abcdef");
    expect(plan.devices.map((d) => [d.namespace, d.address, d.mbit, d.cpuShare, d.cgroup])).toEqual([
      ["x-42-abcdef-d0", "192.168.9.2", 10, 0.5, "/sys/fs/cgroup/cpu/x-42-abcdef/d0"],
      ["x-42-abcdef-d1", "192.168.9.3", 100, 0.5, "/sys/fs/cgroup/cpu/x-42-abcdef/d1"],
      ["x-42-abcdef-d2", "192.168.9.4", 1000, 0.5, "/sys/fs/cgroup/cpu/x-42-abcdef/d2"],
    ]);
  });

  it("leaves one device of a list without a quota (a gateway beside the devices)", () => {
    const plan = planLab({ devices: 2, bandwidthMbit: [100, 50], cpuShare: [0.25, null] });
    expect(plan.devices.map((d) => d.cpuShare)).toEqual([0.25, null]);
  });

  it("gives every lab a fresh id carrying its owner pid", () => {
    const a = planLab({ devices: 1, bandwidthMbit: 10 });
    const b = planLab({ devices: 1, bandwidthMbit: 10 });
    expect(a.id).not.toBe(b.id);
    expect(parseLabName(a.devices[0]!.namespace, "eflab")).toEqual({ labId: a.id, ownerPid: process.pid });
    expect(parseLabName(a.id, "other")).toBeNull();
    expect(parseLabName("eflab-12-abcdef-hub-extra", "eflab")).toBeNull();
  });

  it.each([
    [{ devices: 0, bandwidthMbit: 10 }, /devices/],
    [{ devices: 201, bandwidthMbit: 10 }, /devices/],
    [{ devices: 1, bandwidthMbit: 0 }, /bandwidthMbit/],
    [{ devices: 2, bandwidthMbit: [10, 10, 10] }, /3 values for 2 devices/],
    [{ devices: 1, bandwidthMbit: 10, cpuShare: 0.001 }, /cpuShare.*at least 0.01/],
    [{ devices: 1, bandwidthMbit: 10, cpuShare: 64 }, /cpuShare.*cores/],
    [{ devices: 1, bandwidthMbit: 10, subnet: "8.8.8.0/24" }, /private/],
    [{ devices: 1, bandwidthMbit: 10, subnet: "10.0.0.0/16" }, /\/24/],
    [{ devices: 1, bandwidthMbit: 10, namePrefix: "Bad-Prefix" }, /namePrefix/],
  ])("refuses %j", (options, message) => {
    expect(() => planLab(options)).toThrow(LabError);
    expect(() => planLab(options)).toThrow(message);
  });
});

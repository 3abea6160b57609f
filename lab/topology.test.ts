import { describe, expect, it } from "vitest";
import { LabError } from "../core/errors.js";
import { sessionLayout, type SessionOptions } from "./session.js";
import { layoutOf, perDevice } from "./topology.js";

const base = { cfg: "x.cfg", weights: "x.weights", image: "x.jpg" } as const;
const settings = { mbit: [10, 100, 1000], cpuShare: [0.5, 0.25, 0.1], memoryMb: [4096, 2048, 512] };

describe("lab topologies", () => {
  it("paper: every device behind its own link, the broker on the source device, every worker's bytes over the source's link", () => {
    const layout = layoutOf("paper", settings);
    expect(layout.lab).toEqual({
      devices: 3,
      bandwidthMbit: [10, 100, 1000],
      cpuShare: [0.5, 0.25, 0.1],
      hubCpuShare: null,
    });
    expect(layout.broker).toBe(0);
    expect(layout.devices.map((d) => [d.id, d.role, d.place, d.mbit, d.cpuShare, d.memoryMb])).toEqual([
      ["source", "source", 0, 10, 0.5, 4096],
      ["w1", "worker", 1, 100, 0.25, 2048],
      ["w2", "worker", 2, 1000, 0.1, 512],
    ]);
    expect(layout.links).toEqual([
      { name: "source", labDevice: 0, workers: "all", source: false },
      { name: "w1", labDevice: 1, workers: ["w1"], source: false },
      { name: "w2", labDevice: 2, workers: ["w2"], source: false },
    ]);
    expect(layout.plannerBroker).toBe("source");
  });

  it("hub: the broker and source on the unshaped centre, the source under the hub's quota and told no rates", () => {
    const layout = layoutOf("hub", settings);
    expect(layout.lab).toEqual({ devices: 2, bandwidthMbit: [100, 1000], cpuShare: [0.25, 0.1], hubCpuShare: 0.5 });
    expect(layout.broker).toBe("hub");
    expect(layout.devices.map((d) => [d.id, d.place, d.mbit])).toEqual([
      ["source", "hub", null],
      ["w1", 0, 100],
      ["w2", 1, 1000],
    ]);
    expect(layout.links.map((l) => [l.name, l.labDevice])).toEqual([
      ["w1", 0],
      ["w2", 1],
    ]);
    // A lab needs one namespace even when the source is alone.
    expect(layoutOf("hub", { mbit: [10], cpuShare: [0.5], memoryMb: [1024] }).lab.devices).toBe(1);
  });

  it("gateway: the broker on a namespace of its own, behind its own link and without a quota; the planner told its rate", () => {
    const layout = layoutOf("gateway", settings, 50);
    expect(layout.lab).toEqual({
      devices: 4,
      bandwidthMbit: [10, 100, 1000, 50],
      cpuShare: [0.5, 0.25, 0.1, null],
      hubCpuShare: null,
    });
    expect(layout.broker).toBe(3);
    expect(layout.devices.map((d) => d.place)).toEqual([0, 1, 2]);
    expect(layout.links.map((l) => [l.name, l.labDevice, l.workers, l.source])).toEqual([
      ["source", 0, [], true],
      ["w1", 1, ["w1"], false],
      ["w2", 2, ["w2"], false],
      ["gateway", 3, "all", true],
    ]);
    expect(layout.plannerBroker).toEqual({ bitsPerSec: 50e6 });
    expect(layout.gatewayMbit).toBe(50);
  });

  it("refuses a gateway without a rate, and a rate without a gateway", () => {
    expect(() => layoutOf("gateway", settings)).toThrow(/--gateway-mbit/);
    expect(() => layoutOf("paper", settings, 50)).toThrow(/gateway topology, not paper/);
  });

  it("takes one value for every device or one per device, and names a list of the wrong length", () => {
    expect(perDevice("cpuShare", 0.25, 3)).toEqual([0.25, 0.25, 0.25]);
    expect(perDevice("cpuShare", [0.5, 0.25], 2)).toEqual([0.5, 0.25]);
    expect(() => perDevice("memoryMb", [1, 2], 3)).toThrow(LabError);
    expect(() => perDevice("memoryMb", [1, 2], 3)).toThrow(/memoryMb: 2 values for 3 devices/);
  });

  it("a session's options become a layout: paper by default, 4096 MB unless told", () => {
    const o: SessionOptions = { ...base, devices: 2, bandwidthMbit: [10, 100], cpuShare: 0.25 };
    const layout = sessionLayout(o);
    expect(layout.topology).toBe("paper");
    expect(layout.devices.map((d) => [d.mbit, d.cpuShare, d.memoryMb])).toEqual([
      [10, 0.25, 4096],
      [100, 0.25, 4096],
    ]);
    expect(() => sessionLayout({ ...o, memoryMb: [1, 2, 3] })).toThrow(/memoryMb: 3 values for 2 devices/);
  });
});

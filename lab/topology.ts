/**
 * Where everything of a lab deployment sits, decided before anything is created: which
 * namespace each device runs in, which link it uses, where the broker and planner run,
 * and which MQTT clients' bytes cross each link.
 *
 * - `paper` (the default): every device, the source included, in its own namespace
 *   behind its own shaped link. The broker and planner run on the source device as
 *   `up` deploys them: in its namespace and under its CPU quota (in `up` broker,
 *   planner and source share one process, so they share the device's CPU). The hub
 *   namespace is only the switch. Every byte a worker exchanges crosses the source's
 *   link: the paper's star through the source.
 * - `hub`: the broker, planner and source on the unshaped centre (the source under a
 *   CPU quota of its own), only the workers behind links: the source's link is not
 *   limited.
 * - `gateway`: the broker and planner on a host of their own, behind a link of their
 *   own and with no CPU quota; the source is a device behind its link like the workers.
 *
 * Devices are counted source first: device 0 is the source, device k ≥ 1 is worker wk.
 */
import type { BrokerPlacement } from "../planner/schema.js";
import { LabError } from "../core/errors.js";
import type { LinkCarriage } from "./hub-protocol.js";
import type { Place } from "./netns.js";

export const TOPOLOGIES = ["paper", "hub", "gateway"] as const;
export type Topology = (typeof TOPOLOGIES)[number];

export const SOURCE_ID = "source";
export const workerId = (k: number): string => `w${k}`;
/** The name of the gateway's link in records. */
export const GATEWAY_LINK = "gateway";

/** One value for every device, or one per device (source first). */
export type PerDevice<T> = T | readonly T[];

/** `value` as one entry per device; a list of the wrong length is refused, naming `what`. */
export function perDevice<T>(what: string, value: PerDevice<T>, devices: number): T[] {
  if (!Array.isArray(value)) return Array.from({ length: devices }, () => value as T);
  if (value.length !== devices)
    throw new LabError(`${what}: ${value.length} values for ${devices} devices (one, or one per device, source first)`);
  return [...(value as readonly T[])];
}

export interface DeviceSettings {
  /** Link rate per device, both ways, Mbit/s (the source's is unused in `hub`). */
  readonly mbit: readonly number[];
  /** CPU quota per device, fraction of one core. */
  readonly cpuShare: readonly number[];
  /** `--memory` per device, MB. */
  readonly memoryMb: readonly number[];
}

/** A link, whose bytes cross it, and the lab device (0-based namespace index) whose veth it is. */
export interface LinkSpec extends LinkCarriage {
  readonly labDevice: number;
}

export interface DeviceLayout {
  readonly id: string;
  readonly role: "source" | "worker";
  readonly place: Place;
  /** The rates the device announces (its link's), or null where its link is not limited. */
  readonly mbit: number | null;
  readonly cpuShare: number;
  readonly memoryMb: number;
}

export interface TopologyLayout {
  readonly topology: Topology;
  /** What createLab is asked for. */
  readonly lab: {
    readonly devices: number;
    readonly bandwidthMbit: number[];
    readonly cpuShare: (number | null)[];
    readonly hubCpuShare: number | null;
  };
  /** Where the broker and planner (hub-agent.ts) run; a device place runs them under its quota, if it has one. */
  readonly broker: Place;
  readonly devices: readonly DeviceLayout[];
  readonly links: readonly LinkSpec[];
  /** What the planner is told of the broker's placement. */
  readonly plannerBroker: BrokerPlacement;
  readonly gatewayMbit: number | null;
}

export function layoutOf(topology: Topology, s: DeviceSettings, gatewayMbit?: number): TopologyLayout {
  const n = s.mbit.length;
  if (s.cpuShare.length !== n || s.memoryMb.length !== n)
    throw new LabError(`lab: per-device settings disagree on the device count`);
  if (topology === "gateway" && !(gatewayMbit && gatewayMbit > 0))
    throw new LabError("lab: the gateway topology needs the gateway's link rate (--gateway-mbit)");
  if (topology !== "gateway" && gatewayMbit !== undefined)
    throw new LabError(`lab: a gateway rate is for the gateway topology, not ${topology}`);
  const ids = Array.from({ length: n }, (_, k) => (k === 0 ? SOURCE_ID : workerId(k)));
  const workerLinks = (offset: number): LinkSpec[] =>
    ids.slice(1).map((id, i) => ({ name: id, labDevice: i + 1 - offset, workers: [id], source: false }));
  const device = (k: number, place: Place, limited: boolean): DeviceLayout => ({
    id: ids[k]!,
    role: k === 0 ? "source" : "worker",
    place,
    mbit: limited ? s.mbit[k]! : null,
    cpuShare: s.cpuShare[k]!,
    memoryMb: s.memoryMb[k]!,
  });
  if (topology === "hub") {
    return {
      topology,
      // A lab needs one device namespace: with the source alone, it stays idle.
      lab: {
        devices: Math.max(1, n - 1),
        bandwidthMbit: n > 1 ? s.mbit.slice(1) : [s.mbit[0]!],
        cpuShare: n > 1 ? s.cpuShare.slice(1) : [s.cpuShare[0]!],
        hubCpuShare: s.cpuShare[0]!,
      },
      broker: "hub",
      devices: ids.map((_, k) => device(k, k === 0 ? "hub" : k - 1, k > 0)),
      links: workerLinks(1),
      plannerBroker: "source",
      gatewayMbit: null,
    };
  }
  const devices = ids.map((_, k) => device(k, k, true));
  const sourceLink = (spec: Omit<LinkSpec, "name" | "labDevice">): LinkSpec => ({
    name: SOURCE_ID,
    labDevice: 0,
    ...spec,
  });
  if (topology === "paper") {
    return {
      topology,
      lab: { devices: n, bandwidthMbit: [...s.mbit], cpuShare: [...s.cpuShare], hubCpuShare: null },
      broker: 0,
      devices,
      links: [sourceLink({ workers: "all", source: false }), ...workerLinks(0)],
      plannerBroker: "source",
      gatewayMbit: null,
    };
  }
  // gateway: one more namespace, after the devices, with its own link and no quota.
  return {
    topology,
    lab: {
      devices: n + 1,
      bandwidthMbit: [...s.mbit, gatewayMbit!],
      cpuShare: [...s.cpuShare, null],
      hubCpuShare: null,
    },
    broker: n,
    devices,
    links: [
      sourceLink({ workers: [], source: true }),
      ...workerLinks(0),
      { name: GATEWAY_LINK, labDevice: n, workers: "all", source: true },
    ],
    plannerBroker: { bitsPerSec: gatewayMbit! * 1e6 },
    gatewayMbit: gatewayMbit!,
  };
}

/**
 * The planner check: does the default plan (least predicted time) run about as fast
 * as the best fixed alternative, and does its prediction hold? Every setting of
 * bandwidth × device count × device profile runs the default beside the plans it
 * could have been: fixed schemes, the least-communication ILP, fixed FTP depths and,
 * where the devices differ, the same planning with an even split.
 */
import type { LabScheme } from "../experiment.js";
import { PAPER_YOLOV2 } from "../../planner/strategies.js";
import type { Setting } from "./grid.js";

export const CHECK_BANDWIDTHS_MBIT = [10, 100, 1000] as const;
export const CHECK_DEVICE_COUNTS = [3, 6] as const;
/** FTP depths tried beside the default's own choice: none, shallow, the paper's 0–11. */
export const CHECK_FTP_BOUNDARIES = [0, 3, PAPER_YOLOV2.ftpEnd] as const;

export const PROFILES = ["identical", "heterogeneous"] as const;
export type Profile = (typeof PROFILES)[number];

/**
 * The heterogeneous profile: the last device at half the CPU share, the one before it
 * behind a link at a tenth of the bandwidth. Both are workers (index 0 is the source,
 * which holds the input), so a plan that ignores the difference pays for it.
 */
export const SLOW_CPU_FACTOR = 0.5;
export const SLOW_LINK_FACTOR = 0.1;

/** Every device's CPU share and link rate (index 0 the source) in a profile. */
export function deviceSettings(
  profile: Profile,
  devices: number,
  bandwidthMbit: number,
  cpuShare: number,
): { bandwidthMbit: number[]; cpuShare: number[] } {
  const bandwidth = Array.from({ length: devices }, () => bandwidthMbit);
  const cpu = Array.from({ length: devices }, () => cpuShare);
  if (profile === "heterogeneous") {
    if (devices < 3) throw new RangeError(`a heterogeneous setting needs at least 3 devices, not ${devices}`);
    cpu[devices - 1] = round(cpuShare * SLOW_CPU_FACTOR);
    bandwidth[devices - 2] = round(bandwidthMbit * SLOW_LINK_FACTOR);
  }
  return { bandwidthMbit: bandwidth, cpuShare: cpu };
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

export const DEFAULT_LABEL = "default";
/** What the planner does unless told: least predicted time, the ILP, its own FTP depth. */
export const DEFAULT_PLAN: LabScheme = {
  label: DEFAULT_LABEL,
  planning: { strategy: "auto", ftpEnd: "auto", objective: "latency" },
};
export const EVEN_SPLIT: LabScheme = {
  label: "default (even split)",
  planning: { ...DEFAULT_PLAN.planning, split: "even" },
};

/** The fixed alternatives; FTP depths past what the network can tile are left out. */
export function alternatives(o: { paperPlan: boolean; maxFtpEnd: number }): LabScheme[] {
  const latency = { ftpEnd: "auto", objective: "latency" } as const;
  return [
    { label: "all-LOP", planning: { ...latency, strategy: "lop" } },
    // The paper's objective: least communication (what the planner did before it predicted time).
    { label: "ILP-C", planning: { strategy: "auto", ftpEnd: "auto", objective: "comm" } },
    { label: "fuse-all", planning: { ...latency, strategy: "fuse-all" } },
    // The authors' plan as published: their schemes on every device, the weights shared evenly.
    ...(o.paperPlan
      ? [{ label: "paper", planning: { strategy: "paper", ftpEnd: PAPER_YOLOV2.ftpEnd, objective: "comm" } } as const]
      : []),
    ...CHECK_FTP_BOUNDARIES.filter((b) => b <= o.maxFtpEnd).map(
      (b): LabScheme => ({ label: `FTP ${b}`, planning: { strategy: "auto", ftpEnd: b, objective: "latency" } }),
    ),
    { label: "auto-comm", planning: { strategy: "auto", ftpEnd: "auto-comm", objective: "comm" } },
  ];
}

/** The default and every alternative the profile calls for. */
export function checkSchemes(profile: Profile, o: { paperPlan: boolean; maxFtpEnd: number }): LabScheme[] {
  return [DEFAULT_PLAN, ...alternatives(o), ...(profile === "heterogeneous" ? [EVEN_SPLIT] : [])];
}

/** In run order: one lab per device count and profile, its bandwidths fastest first (the slow links' shards take longest). */
export function plannerCheckGrid(o: { paperPlan: boolean; maxFtpEnd: number }): Setting[] {
  return CHECK_DEVICE_COUNTS.flatMap((devices) =>
    PROFILES.flatMap((profile) =>
      [...CHECK_BANDWIDTHS_MBIT]
        .sort((a, b) => b - a)
        .map((bandwidthMbit) => ({ devices, bandwidthMbit, profile, schemes: checkSchemes(profile, o) })),
    ),
  );
}

/**
 * The settings that reproduce the paper's Table 1 (run time and memory per device,
 * LOP vs fusion, across bandwidths and device counts) and Table 2 (communication per
 * fusion variant). LOP and the optimum (least predicted time) are compared after the
 * same FTP stage, the paper's layers 0–11; the default plan, which also chooses its
 * FTP stage for time, is a third line. One lab per device count: its bandwidths run
 * one after another.
 */
import type { LabScheme } from "../experiment.js";
import { scheme } from "../setup.js";
import { PAPER_YOLOV2 } from "../../planner/strategies.js";
import type { Profile } from "./planner-check.js";

export interface Setting {
  readonly devices: number;
  /** Every link's rate, or in a heterogeneous profile the rate of all but one (planner-check.ts deviceSettings). */
  readonly bandwidthMbit: number;
  readonly profile: Profile;
  readonly schemes: readonly LabScheme[];
}

/** The paper's FTP stage: layers 0–11. */
export const PAPER_FTP = PAPER_YOLOV2.ftpEnd;

export const LOP = scheme("lop", PAPER_FTP);
export const OPTIMUM = scheme("auto", PAPER_FTP);
/** The plan a user gets: least predicted time, the FTP stage chosen with it. */
export const OPTIMUM_OWN_FTP = scheme("auto", "auto");
export const TABLE1 = [LOP, OPTIMUM, OPTIMUM_OWN_FTP];
export const TABLE2 = [
  LOP,
  scheme("lip", PAPER_FTP),
  scheme("fuse-all", PAPER_FTP),
  scheme("paper", PAPER_FTP),
  OPTIMUM,
];
/** One device has nothing to partition: every variant is the same whole network. */
export const SINGLE: LabScheme = { label: "single device", planning: { strategy: "auto", ftpEnd: 0 } };

const union = (...lists: (readonly LabScheme[])[]): LabScheme[] => [
  ...new Map(lists.flat().map((s) => [s.label, s])).values(),
];

/** In run order: the 6-device lab first (100 mbit, the headline, then 1 gbit, then the slow 10 mbit), then the other device counts. */
export function experimentGrid(quick: boolean): Setting[] {
  const schemesFor = (devices: number, mbit: number): LabScheme[] =>
    devices === 1 ? [SINGLE] : devices === 6 && mbit === 100 ? union(TABLE1, TABLE2) : [...TABLE1];
  if (quick) {
    return [
      { devices: 6, bandwidthMbit: 100, profile: "identical", schemes: [LOP, OPTIMUM, scheme("paper", PAPER_FTP)] },
      { devices: 3, bandwidthMbit: 100, profile: "identical", schemes: [LOP, OPTIMUM] },
    ];
  }
  const setting = (devices: number, bandwidthMbit: number): Setting => ({
    devices,
    bandwidthMbit,
    profile: "identical",
    schemes: schemesFor(devices, bandwidthMbit),
  });
  return [...[100, 1000, 10].map((mbit) => setting(6, mbit)), ...[1, 3, 5, 7].map((devices) => setting(devices, 100))];
}

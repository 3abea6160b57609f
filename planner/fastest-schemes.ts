/**
 * The schemes of the partitioned layers with the least predicted time: a dynamic
 * program over the chain of units. The time of a stage depends only on its own scheme
 * and on whether the unit before ran LOP (reuse), and FUSE couples only neighbours,
 * so the state after unit k is the scheme it ran: exact, and linear in the chain's
 * length (the ILP's branch and bound is not, on long chains).
 */
import { PlanError } from "../core/errors.js";
import { checkSchemes } from "./costs.js";
import { type NetworkProfile, type StageTime, stageTime } from "./latency.js";
import type { Slots } from "./parts.js";
import { leavesSliceForNext, type Scheme } from "./schemes.js";
import { type StageScheme, type UnitCuts, unitCuts, unitFlows } from "./stage-flows.js";
import type { Unit } from "./units.js";

/** Whether unit k reuses the slice a LOP unit k−1 left (the paper's o_{k−1}). */
const reusesAfter = (units: readonly Unit[], k: number, prev: Scheme | undefined): boolean =>
  prev !== undefined && leavesSliceForNext(prev) && units[k - 1]!.reusableByNext;

/** The stage that unit k opens under `scheme` (FUSE2 opens none: it is FUSE1's stage). */
export function unitStageTime(
  units: readonly Unit[],
  k: number,
  scheme: StageScheme,
  prev: Scheme | undefined,
  cuts: UnitCuts,
  profile: NetworkProfile,
): StageTime {
  return stageTime(unitFlows(units, k, scheme, reusesAfter(units, k, prev), cuts), profile);
}

/** The predicted time of the partitioned stages for one assignment (checked as the ILP's constraints). */
export function chainSeconds(
  units: readonly Unit[],
  schemes: readonly Scheme[],
  split: Slots,
  profile: NetworkProfile,
): number {
  checkSchemes(units, schemes);
  const cuts = unitCuts(units, split);
  let seconds = 0;
  schemes.forEach((s, k) => {
    if (s !== "fuse2") seconds += unitStageTime(units, k, s, schemes[k - 1], cuts, profile).seconds;
  });
  return seconds;
}

/** The schemes unit k may take, given the pins (by darknet layer). */
function allowedAt(units: readonly Unit[], k: number, pinned: ReadonlyMap<number, Scheme>): Scheme[] {
  const u = units[k]!;
  const all: Scheme[] = ["lop", "lip"];
  if (u.fusableWithNext && k + 1 < units.length) all.push("fuse1");
  if (k > 0 && units[k - 1]!.fusableWithNext) all.push("fuse2");
  const pin = pinned.get(u.layer);
  if (pin === undefined) return all;
  if (!all.includes(pin))
    throw new PlanError(
      `layer ${u.layer} cannot be ${pin.toUpperCase()} (its output is read whole elsewhere, or no fusable layer is next to it)`,
    );
  return [pin];
}

export interface FastestSchemes {
  readonly schemes: readonly Scheme[];
  readonly seconds: number;
}

/** The assignment with the least predicted time; throws when the pins allow none. */
export function fastestSchemes(
  units: readonly Unit[],
  split: Slots,
  profile: NetworkProfile,
  pinned: ReadonlyMap<number, Scheme> = new Map(),
): FastestSchemes {
  // best.get(s): least seconds for units [0, k] with unit k on scheme s, and the way there.
  type Entry = { seconds: number; schemes: Scheme[] };
  // A stage's time depends on (k, scheme, reuse) only: each is computed once.
  const memo = new Float64Array(units.length * 6).fill(-1);
  const cuts = unitCuts(units, split);
  const timeOf = (k: number, scheme: StageScheme, prev: Scheme | undefined): number => {
    const key = k * 6 + (scheme === "lop" ? 0 : scheme === "lip" ? 2 : 4) + Number(reusesAfter(units, k, prev));
    if (memo[key]! < 0) memo[key] = unitStageTime(units, k, scheme, prev, cuts, profile).seconds;
    return memo[key]!;
  };
  let best = new Map<Scheme | "start", Entry>([["start", { seconds: 0, schemes: [] }]]);
  units.forEach((_, k) => {
    const next = new Map<Scheme | "start", Entry>();
    for (const scheme of allowedAt(units, k, pinned)) {
      for (const [prev, entry] of best) {
        const p = prev === "start" ? undefined : prev;
        // FUSE2 exactly after FUSE1, and FUSE1 always closed by FUSE2 (eqs. 12–13).
        if ((scheme === "fuse2") !== (p === "fuse1")) continue;
        const cost = scheme === "fuse2" ? 0 : timeOf(k, scheme, p);
        const seconds = entry.seconds + cost;
        const held = next.get(scheme);
        if (!held || seconds < held.seconds) next.set(scheme, { seconds, schemes: [...entry.schemes, scheme] });
      }
    }
    best = next;
  });
  const ends = [...best].filter(([s]) => s !== "fuse1").map(([, e]) => e);
  if (ends.length === 0)
    throw new PlanError(`no valid scheme assignment for ${units.length} layers with the pinned schemes`);
  return ends.reduce((a, b) => (b.seconds < a.seconds ? b : a));
}

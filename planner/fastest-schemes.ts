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
  k > 0 && prev !== undefined && leavesSliceForNext(prev) && units[k - 1]!.reusableByNext;

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
  return fastestSuffixes(units, split, profile, pinned)(0);
}

const PREVIOUS = ["none", "lop", "lip", "fuse1", "fuse2"] as const;
type Previous = (typeof PREVIOUS)[number];

/**
 * The fastest assignment of every suffix units[k..] that starts a plan (no unit before
 * it: what an FTP stage ending at unit k's layer leaves), from one backward pass:
 * rest[k][p] is the least time of units k.. when unit k−1 ran p. Every FTP boundary of
 * a search shares it, so a network of L layers costs O(L), not O(L²).
 */
export function fastestSuffixes(
  units: readonly Unit[],
  split: Slots,
  profile: NetworkProfile,
  pinned: ReadonlyMap<number, Scheme> = new Map(),
): (k: number) => FastestSchemes {
  const cuts = unitCuts(units, split);
  const U = units.length;
  const rest: number[][] = Array.from({ length: U + 1 }, () => PREVIOUS.map(() => Infinity));
  const choice: (Scheme | undefined)[][] = Array.from({ length: U }, () => PREVIOUS.map(() => undefined));
  // FUSE1 must be closed by FUSE2: nothing may end after it.
  rest[U] = PREVIOUS.map((p) => (p === "fuse1" ? Infinity : 0));
  const stageSeconds = new Map<string, number>();
  for (let k = U - 1; k >= 0; k--) {
    const allowed = allowedAt(units, k, pinned);
    PREVIOUS.forEach((p, i) => {
      const prev = p === "none" ? undefined : p;
      for (const scheme of allowed) {
        // FUSE2 exactly after FUSE1, and FUSE1 always closed by FUSE2 (eqs. 12–13).
        if ((scheme === "fuse2") !== (prev === "fuse1")) continue;
        let cost = 0;
        if (scheme !== "fuse2") {
          const key = `${k}:${scheme}:${reusesAfter(units, k, prev)}`;
          cost = stageSeconds.get(key) ?? unitStageTime(units, k, scheme, prev, cuts, profile).seconds;
          stageSeconds.set(key, cost);
        }
        const total = cost + rest[k + 1]![PREVIOUS.indexOf(scheme)]!;
        if (total < rest[k]![i]!) [rest[k]![i], choice[k]![i]] = [total, scheme];
      }
    });
  }
  return (start) => {
    const seconds = rest[start]![0]!;
    if (!Number.isFinite(seconds))
      throw new PlanError(`no valid scheme assignment for ${U - start} layers with the pinned schemes`);
    const schemes: Scheme[] = [];
    let p: Previous = "none";
    for (let k = start; k < U; k++) {
      const s: Scheme = choice[k]![PREVIOUS.indexOf(p)]!;
      schemes.push(s);
      p = s;
    }
    return { schemes, seconds };
  };
}

/**
 * How the schemes of the partitioned layers are chosen: the paper's ILP, or one of
 * the fixed variants it compares against (Table 1's all-LOP, §4.1's all-LIP, Fig. 6's
 * fusion everywhere, and the authors' own YOLOv2 plan).
 */
import { PlanError } from "../core/errors.js";
import { modelCfg } from "../core/paths.js";
import { loadNetwork, type Network } from "../dnn/network.js";
import { chainCost } from "./costs.js";
import { largestWeights, leastLargestWeights, slotWeights, solveSchemes, type SchemeChoice } from "./ilp.js";
import { networkFingerprint } from "./schema.js";
import { opensFusePair, type Scheme, type Strategy } from "./schemes.js";
import type { Slots } from "./parts.js";
import type { Unit } from "./units.js";

/**
 * The authors' published YOLOv2 plan (from their implementation): FTP on layers 0–11, then
 * FUSE pairs (12,13), (14,15), (18,19), (20,21), (23,24), (29,30), LOP on 16 and 22,
 * LIP on 26. It names every weighted layer from 12 on.
 */
export const PAPER_YOLOV2 = {
  ftpEnd: 12,
  schemes: new Map<number, Scheme>([
    ...(
      [
        [12, 13],
        [14, 15],
        [18, 19],
        [20, 21],
        [23, 24],
        [29, 30],
      ] as const
    ).flatMap(([a, b]): [number, Scheme][] => [
      [a, "fuse1"],
      [b, "fuse2"],
    ]),
    [16, "lop"],
    [22, "lop"],
    [26, "lip"],
  ]),
} as const;

let yolov2Fingerprint: string | undefined;
/** The paper's plan fits one network only: the package's yolov2.cfg (608×608, COCO). */
export function isPaperNetwork(network: Network): boolean {
  yolov2Fingerprint ??= networkFingerprint(loadNetwork(modelCfg("yolov2")));
  return networkFingerprint(network) === yolov2Fingerprint;
}

export function checkPaperNetwork(network: Network): void {
  if (!isPaperNetwork(network))
    throw new PlanError(
      `the paper's plan exists only for yolov2.cfg (the authors' YOLOv2, 608×608, 80 classes), not for ${network.file}`,
    );
}

/**
 * The paper's "fuse all" (Fig. 6, C = 40 in its example): walk the units in order;
 * a unit that may FUSE1 into the next (units.ts fusableWithNext) does so and the next
 * becomes its FUSE2, so pairs form as (1,2), (3,4), … from the start of every run of
 * fusable layers; a unit left over (the odd one at a run's end, or one before a sync
 * point) runs LOP.
 */
export function fuseAll(units: readonly Unit[]): Scheme[] {
  const schemes: Scheme[] = [];
  units.forEach((u, k) => {
    if (k > 0 && opensFusePair(schemes[k - 1]!)) schemes.push("fuse2");
    else schemes.push(u.fusableWithNext && k + 1 < units.length ? "fuse1" : "lop");
  });
  return schemes;
}

/** The schemes of a fixed strategy (everything but "auto"). */
export function fixedSchemes(strategy: Exclude<Strategy, "auto">, units: readonly Unit[]): Scheme[] {
  switch (strategy) {
    case "lop":
    case "lip":
      return units.map((): Scheme => strategy);
    case "fuse-all":
      return fuseAll(units);
    case "paper":
      return units.map((u) => {
        const scheme = PAPER_YOLOV2.schemes.get(u.layer);
        if (!scheme)
          throw new PlanError(
            `the paper's plan has no scheme for layer ${u.layer}: it starts at layer ${PAPER_YOLOV2.ftpEnd}`,
          );
        return scheme;
      });
  }
}

/** The paper's baseline: LOP on every layer (Table 1's "LOP" column). */
export function allLop(units: readonly Unit[], devices: Slots): SchemeChoice {
  const schemes = fixedSchemes("lop", units);
  return { schemes, ...chainCost(units, schemes, devices) };
}

export interface StrategyOptions {
  readonly strategy: Strategy;
  readonly pinned: ReadonlyMap<number, Scheme>;
  /** Per device slot, the weights it may hold for these units (its budget less what it holds anyway). */
  readonly limits?: readonly number[];
}

/** The strategy's schemes and their cost, or null when they do not fit `limits`. */
export function chooseSchemes(
  units: readonly Unit[],
  devices: Slots,
  { strategy, pinned, limits }: StrategyOptions,
): SchemeChoice | null {
  if (strategy === "auto") return solveSchemes(units, devices, { pinned, limits });
  if (pinned.size > 0) throw new PlanError(`pinned schemes only apply to the optimal strategy, not to "${strategy}"`);
  const schemes = fixedSchemes(strategy, units);
  if (limits && slotWeights(units, schemes, devices).some((w, d) => w > (limits[d] ?? Infinity))) return null;
  return { schemes, ...chainCost(units, schemes, devices) };
}

/** The least weights the fullest device must hold under this strategy, `base` included. */
export function leastNeededWeights(
  units: readonly Unit[],
  devices: Slots,
  { strategy, pinned }: StrategyOptions,
  base: readonly number[],
): number {
  if (strategy === "auto") return leastLargestWeights(units, devices, pinned, base);
  return largestWeights(units, fixedSchemes(strategy, units), devices, base);
}

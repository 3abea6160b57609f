/**
 * The paper's cost model (Stahl et al., §3.3–4.3, eqs. 6–10), in tensor elements.
 * Bytes are 4× these for float32.
 */
import { PlanError } from "../core/errors.js";
import { fractionsFor, slotCount, type Slots } from "./parts.js";
import { closesFusePair, leavesSliceForNext, opensFusePair, type Scheme, splitsInput } from "./schemes.js";
import type { Unit } from "./units.js";
import { FLOAT32_BYTES } from "../core/dtypes.js";

/** C counts elements; on the wire each is a float32. */
export const BYTES_PER_ELEMENT = FLOAT32_BYTES;

/** What one unit's scheme cost depends on. */
export type CostTerms = Pick<Unit, "inputs" | "outputs" | "carriedOutputs" | "channelsIn" | "channelsOut">;

/**
 * C_l for one layer on N devices; `reuse` is the paper's o_{l-1}: the previous layer
 * ran LOP, so each device already holds 1/N of this layer's input.
 *
 * - LOP   eq. (7): (M − r·M/N)(N−1) + K(N−1)/N
 * - LIP   eq. (8): M(N−1)/N + K(N−1)
 * - FUSE1 eq. (9): (M − r·M/N)(N−1). The printed eq. (9) has no reuse term, but the
 *   paper's own optimum (C = 22 for its 4-layer example) needs it: after a LOP layer a
 *   device already holds its slice of a FUSE1 layer's input too.
 * - FUSE2 eq. (9): K(N−1)
 *
 * K in the LOP term is what actually leaves a device: the output after the carried
 * channel-wise layers (a maxpool on the slice shrinks it). For fully-connected chains
 * this is the paper's K exactly.
 *
 * N is the number of devices that get a part: a layer split by its channels has at
 * most one part per channel (YOLOv2's first layer has 3 input channels, so all-LIP
 * on 6 devices uses 3 of them), and the formulas count only devices that take part.
 *
 * With uneven parts (parts.ts Slots) the same counting gives, for the source's
 * fraction f₀ (it holds the data, so its own share never travels):
 * LOP (M·(N−1) − r·M·(1−f₀)) + K(1−f₀); LIP M(1−f₀) + K(N−1); FUSE1 and FUSE2 alike.
 * With f₀ = 1/N these are the paper's formulas above, term for term.
 */
export function layerCost(scheme: Scheme, unit: CostTerms, slots: Slots, reuse: boolean): number {
  const fractions = fractionsFor(splitsInput(scheme) ? unit.channelsIn : unit.channelsOut, slots);
  const N = fractions.filter((f) => f > 0).length;
  const away = 1 - fractions[0]!; // the share that is not the source's
  const M = unit.inputs;
  const r = reuse ? 1 : 0;
  switch (scheme) {
    case "lop":
      return M * (N - 1) - r * M * away + unit.carriedOutputs * away;
    case "lip":
      return M * away + unit.outputs * (N - 1);
    case "fuse1":
      return M * (N - 1) - r * M * away;
    case "fuse2":
      return unit.outputs * (N - 1);
  }
}

/** The ILP's constraints (eqs. 11–13, plus our sync points): throws naming the layer. */
export function checkSchemes(units: readonly Unit[], schemes: readonly Scheme[]): void {
  if (schemes.length !== units.length)
    throw new PlanError(`expected ${units.length} schemes (one per partitioned layer), got ${schemes.length}`);
  units.forEach((unit, k) => {
    const scheme = schemes[k]!;
    const prev = k > 0 ? units[k - 1] : undefined;
    const prevScheme = k > 0 ? schemes[k - 1] : undefined;
    if (opensFusePair(scheme) && !unit.fusableWithNext) {
      throw new PlanError(
        `layer ${unit.layer}: FUSE1 needs a next weighted layer fed only through channel-wise layers, and an output nothing else reads`,
      );
    }
    // eq. (12): s_{l+1} = f_l, in both directions.
    if (closesFusePair(scheme) && (prevScheme === undefined || !opensFusePair(prevScheme) || !prev?.fusableWithNext)) {
      throw new PlanError(`layer ${unit.layer}: FUSE2 must directly follow a FUSE1 layer`);
    }
    if (prevScheme !== undefined && opensFusePair(prevScheme) && !closesFusePair(scheme)) {
      throw new PlanError(
        `layer ${unit.layer}: follows FUSE1 layer ${prev!.layer}, so it must be FUSE2, not ${scheme.toUpperCase()}`,
      );
    }
  });
}

/** Whether unit k reuses unit k−1's LOP slice (the paper's o_{l−1} = 1). */
export function reuses(units: readonly Unit[], schemes: readonly Scheme[], k: number): boolean {
  return k > 0 && leavesSliceForNext(schemes[k - 1]!) && units[k - 1]!.reusableByNext;
}

export interface ChainCost {
  /** C = Σ C_l (eq. 10), elements. */
  readonly elements: number;
  readonly perUnit: readonly number[];
  /** F_n = Σ Q_l / N and T = Σ R_l / N: the same for every partitioned scheme. */
  readonly weightsPerDevice: number;
  readonly multsOnPath: number;
}

export function chainCost(units: readonly Unit[], schemes: readonly Scheme[], slots: Slots): ChainCost {
  checkSchemes(units, schemes);
  const devices = slotCount(slots);
  const perUnit = units.map((u, k) => layerCost(schemes[k]!, u, slots, reuses(units, schemes, k)));
  return {
    elements: perUnit.reduce((a, c) => a + c, 0),
    perUnit,
    weightsPerDevice: units.reduce((a, u) => a + u.weights, 0) / devices,
    multsOnPath: units.reduce((a, u) => a + u.mults, 0) / devices,
  };
}

/** Eq. (6): the whole network on one device. */
export function singleDeviceCost(units: readonly Unit[]): { weights: number; mults: number; elements: 0 } {
  return {
    weights: units.reduce((a, u) => a + u.weights, 0),
    mults: units.reduce((a, u) => a + u.mults, 0),
    elements: 0,
  };
}

/**
 * Layer pipelining (paper §3.3, Fig. 2): `stage[k]` is the device running unit k,
 * stages non-decreasing. Each device holds its layers' weights whole, nothing runs in
 * parallel, and each stage boundary sends the layer's output once.
 */
export function pipelineCost(
  units: readonly Unit[],
  stage: readonly number[],
): { weightsPerStage: number[]; mults: number; elements: number } {
  if (stage.length !== units.length) throw new PlanError(`expected ${units.length} stage numbers, got ${stage.length}`);
  const weightsPerStage: number[] = [];
  let elements = 0;
  units.forEach((u, k) => {
    const s = stage[k]!;
    if (k > 0 && s < stage[k - 1]!)
      throw new PlanError(`layer ${u.layer}: pipeline stages must not go backwards (${stage[k - 1]} → ${s})`);
    weightsPerStage[s] = (weightsPerStage[s] ?? 0) + u.weights;
    if (k > 0 && s !== stage[k - 1]) elements += units[k - 1]!.outputs;
  });
  return {
    weightsPerStage: Array.from(weightsPerStage, (w) => w ?? 0),
    mults: singleDeviceCost(units).mults,
    elements,
  };
}

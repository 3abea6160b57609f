/**
 * The paper's ILP (§4.3, eqs. 10–13): choose one scheme per partitioned layer so
 * that the communication C is smallest, solved with javascript-lp-solver.
 *
 * Binary variables o_k, i_k, f_k, s_k per unit k (LOP, LIP, FUSE1, FUSE2). The reuse
 * term o_{k−1}·o_k (and o_{k−1}·f_k) is a product of binaries; it is linearised with
 * y ≤ o_{k−1}, y ≤ o_k. That is exact here because y only ever lowers the cost, so
 * the optimum pushes it to min(o_{k−1}, o_k).
 *
 * Options beyond the paper: schemes pinned for chosen layers, and a memory budget per
 * device slot: Σ_k (weights of slot d under unit k's scheme) ≤ limit_d. With uneven
 * channel splits the slot weights depend on the scheme (parts.ts), so the budget can
 * change the optimum, not only refuse it.
 */
import lpSolver, { type Model, type SolveResult, type SolverAPI } from "javascript-lp-solver";
import { PlanError } from "../core/errors.js";
import { chainCost, type ChainCost, layerCost } from "./costs.js";
import type { Scheme } from "./schemes.js";
import { partWeights, slotCount, type Slots } from "./parts.js";
import type { Unit } from "./units.js";

// Node loads the package's ESM build, whose default export is the solver; its one .d.ts
// is read as CommonJS, which types the default import as the module namespace instead.
const solver = lpSolver as unknown as SolverAPI;
type Coefficients = Record<string, number>;
const VARIABLE_OF = { lop: "o", lip: "i", fuse1: "f", fuse2: "s" } as const satisfies Record<Scheme, string>;
const SCHEME_OF = { o: "lop", i: "lip", f: "fuse1", s: "fuse2" } as const satisfies Record<string, Scheme>;

export interface SchemeOptions {
  /** Schemes fixed for some layers (by darknet layer index); the ILP chooses the rest. */
  readonly pinned: ReadonlyMap<number, Scheme>;
  /** Per device slot, the most weights (elements) it may hold for these layers; absent or Infinity: no limit. */
  readonly limits?: readonly number[];
  /**
   * "comm": the paper's objective, least C. "largest-weights": least weights on the
   * fullest device slot (what a budget must at least allow); `limits` then are ignored
   * and `base` is what each slot already holds.
   */
  readonly objective?: "comm" | "largest-weights";
  readonly base?: readonly number[];
}
const schemeDefaults = { pinned: new Map<number, Scheme>(), objective: "comm" } satisfies Partial<SchemeOptions>;

/** The LP model, exposed for tests and for anyone who wants to hand it to another solver. */
export function buildSchemeModel(units: readonly Unit[], devices: Slots, options: Partial<SchemeOptions> = {}): Model {
  const { pinned, limits, objective, base } = { ...schemeDefaults, ...options };
  const variables: Record<string, Coefficients> = {};
  const constraints: Model["constraints"] = {};
  const binaries: Record<string, 1> = {};
  const byComm = objective === "comm";
  // Normalise so the largest coefficient is 1: keeps the simplex well inside its tolerances.
  const largest = Math.max(
    1,
    ...units.flatMap((u) => [layerCost("lop", u, devices, false), layerCost("lip", u, devices, false)]),
  );
  const totalWeights = Math.max(
    1,
    units.reduce((a, u) => a + u.weights, 0),
  );
  const add = (name: string, scheme: Scheme | undefined, cost: number, coefficients: Coefficients, k: number) => {
    const row: Coefficients = { cost: byComm ? cost / largest : 0, ...coefficients };
    if (scheme) {
      partWeights(units[k]!, scheme, devices).forEach((w, d) => {
        const limit = limits?.[d] ?? Infinity;
        if (!byComm) row[`mem_${d}`] = w / totalWeights;
        else if (Number.isFinite(limit)) row[`mem_${d}`] = w / Math.max(1, limit);
      });
    }
    variables[name] = row;
    binaries[name] = 1;
  };

  units.forEach((u, k) => {
    const one = `one_${k}`; // eq. (11): exactly one scheme per layer
    constraints[one] = { equal: 1 };
    add(`o_${k}`, "lop", layerCost("lop", u, devices, false), { [one]: 1 }, k);
    add(`i_${k}`, "lip", layerCost("lip", u, devices, false), { [one]: 1 }, k);
    // eq. (13) and sync points: FUSE1 only where a fusable next layer follows.
    if (u.fusableWithNext) add(`f_${k}`, "fuse1", layerCost("fuse1", u, devices, false), { [one]: 1 }, k);
    const prev = units[k - 1];
    if (prev?.fusableWithNext) {
      // eq. (12): s_k = f_{k−1}
      const pair = `pair_${k}`;
      constraints[pair] = { equal: 0 };
      add(`s_${k}`, "fuse2", layerCost("fuse2", u, devices, false), { [one]: 1, [pair]: 1 }, k);
      variables[`f_${k - 1}`]![pair] = -1;
    }
    if (prev?.reusableByNext && byComm) {
      // eq. (7) reuse: −(M/N)(N−1) when the previous layer ran LOP (N as layerCost counts it).
      const saving = layerCost("lop", u, devices, true) - layerCost("lop", u, devices, false);
      for (const [name, mine] of [
        [`y_${k}`, `o_${k}`],
        [`z_${k}`, `f_${k}`],
      ] as const) {
        if (!variables[mine]) continue;
        const capPrev = `${name}_prev`;
        const capMine = `${name}_mine`;
        constraints[capPrev] = { max: 0 };
        constraints[capMine] = { max: 0 };
        add(name, undefined, saving, { [capPrev]: 1, [capMine]: 1 }, k);
        variables[`o_${k - 1}`]![capPrev] = -1;
        variables[mine]![capMine] = -1;
      }
    }
  });
  for (let d = 0; d < slotCount(devices); d++) {
    if (!byComm) {
      // min z with Σ w·x − z ≤ −base_d: z is the fullest slot's weights beyond nothing.
      constraints[`mem_${d}`] = { max: -(base?.[d] ?? 0) / totalWeights };
      continue;
    }
    const limit = limits?.[d] ?? Infinity;
    // Slot weights are whole numbers, so ≤ limit is ≤ limit + ½: an exact fit stays clear of the solver's tolerance.
    if (Number.isFinite(limit)) constraints[`mem_${d}`] = { max: (Math.floor(limit) + 0.5) / Math.max(1, limit) };
  }
  if (!byComm) {
    variables.largest = {
      cost: 1,
      ...Object.fromEntries(Array.from({ length: slotCount(devices) }, (_, d) => [`mem_${d}`, -1])),
    };
  }
  for (const [layer, scheme] of pinned) {
    const k = units.findIndex((u) => u.layer === layer);
    if (k < 0)
      throw new PlanError(
        `layer ${layer} is not a partitioned layer here (partitioned: ${units.map((u) => u.layer).join(", ")})`,
      );
    const name = `${VARIABLE_OF[scheme]}_${k}`;
    if (!variables[name])
      throw new PlanError(
        `layer ${layer} cannot be ${scheme.toUpperCase()} (its output is read whole elsewhere, or no fusable layer is next to it)`,
      );
    constraints[`pin_${k}`] = { equal: 1 };
    variables[name]![`pin_${k}`] = 1;
  }
  return { optimize: "cost", opType: "min", constraints, variables, binaries };
}

export interface SchemeChoice extends ChainCost {
  readonly schemes: readonly Scheme[];
}

function solve(units: readonly Unit[], devices: Slots, options: Partial<SchemeOptions>): Scheme[] | null {
  const result = solver.Solve(buildSchemeModel(units, devices, options)) as SolveResult;
  if (!result.feasible) return null;
  const picked = (name: string) => Number(result[name] ?? 0) > 0.5;
  return units.map((u, k): Scheme => {
    const chosen = (["o", "i", "f", "s"] as const).filter((v) => picked(`${v}_${k}`));
    if (chosen.length !== 1) throw new PlanError(`layer ${u.layer}: the scheme ILP returned ${chosen.length} schemes`);
    return SCHEME_OF[chosen[0]!];
  });
}

const pinsText = (pinned: ReadonlyMap<number, Scheme>) => [...pinned].map(([l, s]) => `${l}=${s}`).join(", ");

/**
 * The ILP's optimum within the budget, or null when no assignment fits it. The
 * returned cost is recomputed exactly from the chosen schemes. Pins that contradict
 * eqs. (12)–(13) are an error whatever the budget.
 */
export function solveSchemes(
  units: readonly Unit[],
  devices: Slots,
  options: Partial<SchemeOptions> = {},
): SchemeChoice | null {
  const pinned = options.pinned ?? schemeDefaults.pinned;
  if (units.length === 0 && pinned.size === 0) return { schemes: [], ...chainCost([], [], devices) };
  const schemes = solve(units, devices, { ...options, objective: "comm" });
  if (schemes) return { schemes, ...chainCost(units, schemes, devices) };
  if (options.limits && solve(units, devices, { pinned })) return null;
  const pins = pinsText(pinned);
  throw new PlanError(
    `no valid scheme assignment for ${units.length} layers${pins ? ` with ${pins}` : ""} (FUSE1 needs FUSE2 on the next layer and vice versa)`,
  );
}

/** The ILP's optimum (no budget): the schemes with least C. */
export function optimalSchemes(
  units: readonly Unit[],
  devices: Slots,
  pinned: ReadonlyMap<number, Scheme> = schemeDefaults.pinned,
): SchemeChoice {
  return solveSchemes(units, devices, { pinned })!;
}

/**
 * The least weights the fullest device slot can hold, over every valid assignment:
 * `base[d]` (what slot d holds anyway, e.g. the FTP stack) plus its partitioned share.
 * A budget below this cannot be met.
 */
export function leastLargestWeights(
  units: readonly Unit[],
  devices: Slots,
  pinned: ReadonlyMap<number, Scheme> = schemeDefaults.pinned,
  base: readonly number[] = [],
): number {
  const schemes = units.length ? solve(units, devices, { pinned, base, objective: "largest-weights" }) : [];
  if (!schemes) throw new PlanError(`no valid scheme assignment for ${units.length} layers with ${pinsText(pinned)}`);
  return largestWeights(units, schemes, devices, base);
}

/** Weights on the fullest device slot for one assignment, `base` included. */
export function largestWeights(
  units: readonly Unit[],
  schemes: readonly Scheme[],
  devices: Slots,
  base: readonly number[] = [],
): number {
  return Math.max(...slotWeights(units, schemes, devices, base));
}

/** Weights each device slot holds for one assignment, `base` included. */
export function slotWeights(
  units: readonly Unit[],
  schemes: readonly Scheme[],
  devices: Slots,
  base: readonly number[] = [],
): number[] {
  const held = Array.from({ length: slotCount(devices) }, (_, d) => base[d] ?? 0);
  for (const [k, u] of units.entries())
    for (const [d, w] of partWeights(u, schemes[k]!, devices).entries()) held[d]! += w;
  return held;
}

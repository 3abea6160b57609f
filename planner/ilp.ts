/**
 * The paper's ILP (§4.3, eqs. 10–13): choose one scheme per partitioned layer so
 * that the communication C is smallest, solved with javascript-lp-solver.
 *
 * Binary variables o_k, i_k, f_k, s_k per unit k (LOP, LIP, FUSE1, FUSE2). The reuse
 * term o_{k−1}·o_k (and o_{k−1}·f_k) is a product of binaries; it is linearised with
 * y ≤ o_{k−1}, y ≤ o_k. That is exact here because y only ever lowers the cost, so
 * the optimum pushes it to min(o_{k−1}, o_k).
 */
import lpSolver, { type Model, type SolveResult, type SolverAPI } from "javascript-lp-solver";
import { PlanError } from "../core/errors.js";
import { chainCost, type ChainCost, layerCost, type Scheme } from "./costs.js";
import type { Unit } from "./units.js";

// Node loads the package's ESM build, whose default export is the solver; its one .d.ts
// is read as CommonJS, which types the default import as the module namespace instead.
const solver = lpSolver as unknown as SolverAPI;
type Coefficients = Record<string, number>;
const VARIABLE_OF = { lop: "o", lip: "i", fuse1: "f", fuse2: "s" } as const satisfies Record<Scheme, string>;

/** The LP model, exposed for tests and for anyone who wants to hand it to another solver. */
export function buildSchemeModel(units: readonly Unit[], devices: number, pinned: ReadonlyMap<number, Scheme> = new Map()): Model {
  const variables: Record<string, Coefficients> = {};
  const constraints: Model["constraints"] = {};
  const binaries: Record<string, 1> = {};
  // Normalise so the largest coefficient is 1: keeps the simplex well inside its tolerances.
  const largest = Math.max(1, ...units.flatMap((u) => [layerCost("lop", u, devices, false), layerCost("lip", u, devices, false)]));
  const add = (name: string, cost: number, coefficients: Coefficients) => {
    variables[name] = { cost: cost / largest, ...coefficients };
    binaries[name] = 1;
  };

  units.forEach((u, k) => {
    const one = `one_${k}`; // eq. (11): exactly one scheme per layer
    constraints[one] = { equal: 1 };
    add(`o_${k}`, layerCost("lop", u, devices, false), { [one]: 1 });
    add(`i_${k}`, layerCost("lip", u, devices, false), { [one]: 1 });
    // eq. (13) and sync points: FUSE1 only where a fusable next layer follows.
    if (u.fusableWithNext) add(`f_${k}`, layerCost("fuse1", u, devices, false), { [one]: 1 });
    const prev = units[k - 1];
    if (prev?.fusableWithNext) {
      // eq. (12): s_k = f_{k−1}
      const pair = `pair_${k}`;
      constraints[pair] = { equal: 0 };
      add(`s_${k}`, layerCost("fuse2", u, devices, false), { [one]: 1, [pair]: 1 });
      variables[`f_${k - 1}`]![pair] = -1;
    }
    if (prev?.reusableByNext) {
      // eq. (7) reuse: −(M/N)(N−1) when the previous layer ran LOP.
      const saving = -(u.inputs / devices) * (devices - 1);
      for (const [name, mine] of [[`y_${k}`, `o_${k}`], [`z_${k}`, `f_${k}`]] as const) {
        if (!variables[mine]) continue;
        const capPrev = `${name}_prev`;
        const capMine = `${name}_mine`;
        constraints[capPrev] = { max: 0 };
        constraints[capMine] = { max: 0 };
        add(name, saving, { [capPrev]: 1, [capMine]: 1 });
        variables[`o_${k - 1}`]![capPrev] = -1;
        variables[mine]![capMine] = -1;
      }
    }
  });
  for (const [layer, scheme] of pinned) {
    const k = units.findIndex((u) => u.layer === layer);
    if (k < 0) throw new PlanError(`layer ${layer} is not a partitioned layer here (partitioned: ${units.map((u) => u.layer).join(", ")})`);
    const name = `${VARIABLE_OF[scheme]}_${k}`;
    if (!variables[name]) throw new PlanError(`layer ${layer} cannot be ${scheme.toUpperCase()} (its output is read whole elsewhere, or no fusable layer is next to it)`);
    constraints[`pin_${k}`] = { equal: 1 };
    variables[name]![`pin_${k}`] = 1;
  }
  return { optimize: "cost", opType: "min", constraints, variables, binaries };
}

export interface SchemeChoice extends ChainCost {
  readonly schemes: readonly Scheme[];
}

/**
 * Solve the ILP; the returned cost is recomputed exactly from the chosen schemes.
 * `pinned` fixes the scheme of some layers (the paper's Table 2 variants) and lets the
 * ILP choose the rest.
 */
export function optimalSchemes(units: readonly Unit[], devices: number, pinned: ReadonlyMap<number, Scheme> = new Map()): SchemeChoice {
  if (units.length === 0 && pinned.size === 0) return { schemes: [], ...chainCost([], [], devices) };
  const result = solver.Solve(buildSchemeModel(units, devices, pinned)) as SolveResult;
  if (!result.feasible) {
    const pins = [...pinned].map(([l, s]) => `${l}=${s}`).join(", ");
    throw new PlanError(`no valid scheme assignment for ${units.length} layers${pins ? ` with ${pins}` : ""} (FUSE1 needs FUSE2 on the next layer and vice versa)`);
  }
  const picked = (name: string) => Number(result[name] ?? 0) > 0.5;
  const schemes = units.map((u, k): Scheme => {
    const chosen = (["o", "i", "f", "s"] as const).filter((v) => picked(`${v}_${k}`));
    if (chosen.length !== 1) throw new PlanError(`layer ${u.layer}: the scheme ILP returned ${chosen.length} schemes`);
    return ({ o: "lop", i: "lip", f: "fuse1", s: "fuse2" } as const)[chosen[0]!];
  });
  return { schemes, ...chainCost(units, schemes, devices) };
}

/** The paper's baseline: LOP on every layer (Table 1's "LOP" column). */
export function allLop(units: readonly Unit[], devices: number): SchemeChoice {
  const schemes = units.map((): Scheme => "lop");
  return { schemes, ...chainCost(units, schemes, devices) };
}

/**
 * The search for the plan with the least predicted time (latency.ts): jointly the FTP
 * boundary and grid, the devices that take part, how the partitioned layers are
 * divided among them, and the scheme of every partitioned layer (fastest-schemes.ts),
 * under every device's memory budget.
 *
 * - Devices: the source first, then the others by how long an even share of the work
 *   would take them (compute at their speed, bytes at their link rate), so the first m
 *   slots are the m best; every m from 1 to N is tried. A device left out holds nothing.
 * - Split: the partitioned layers' weights are divided among the m devices in one of
 *   a few ways — in proportion to speed, in proportion to the work rate above, or (on
 *   all N) the same weights everywhere (what `split: "even"` and the comm objective use) — each
 *   also with the source taking as much as its budget allows first: its own share never
 *   crosses a link. Every division is capped by the budgets (water filling).
 * - FTP: every boundary and grid the options allow, the tiles on the first slots.
 */
import { DTYPES } from "../core/dtypes.js";
import { PlanError } from "../core/errors.js";
import type { Network } from "../dnn/network.js";
import type { Grid } from "./ftp.js";
import { account, balancedSplit, type Candidate, type Layout, layout, layoutsToTry } from "./candidates.js";
import { chainCost } from "./costs.js";
import { chainSeconds, type FastestSchemes, fastestSuffixes } from "./fastest-schemes.js";
import type { PlanOptions } from "./build.js";
import { type NetworkProfile, networkProfile } from "./latency.js";
import { partWeights } from "./parts.js";
import { ftpStageTime } from "./predict.js";
import type { PlanDevice } from "./schema.js";
import type { Scheme, Strategy } from "./schemes.js";
import { fixedSchemes } from "./strategies.js";
import { partitionUnits, type Unit } from "./units.js";
import { wireProfile } from "./wire.js";

export interface FastestPlan {
  readonly candidate: Candidate;
  /** The devices in slot order (source first, then the best). */
  readonly devices: PlanDevice[];
  readonly profile: NetworkProfile;
  readonly seconds: number;
}

type Weighting = "speed" | "rate" | "weights";
const WEIGHTINGS: readonly Weighting[] = ["speed", "rate", "weights"];

/** Seconds an even share of every unit would take on device d: its compute, and LOP's traffic on its links. */
function evenShareSeconds(units: readonly Unit[], p: NetworkProfile, d: number, N: number): number {
  const slot = p.slots[d]!;
  const bytes = Math.min(...p.wire.activations.map((t) => DTYPES[t].bytes));
  return units.reduce(
    (t, u) =>
      t +
      u.mults / N / slot.macPerSec +
      (u.inputs * bytes) / slot.downBytesPerSec +
      (u.carriedOutputs * bytes) / N / slot.upBytesPerSec,
    0,
  );
}

/**
 * Slot 0 stays (the source, or the first device when none is marked: the cost model's
 * holder of the input); the rest by how long an even share would take them, then by id.
 */
function orderDevices(devices: readonly PlanDevice[], units: readonly Unit[], opts: PlanOptions): PlanDevice[] {
  const profile = networkProfile(devices, opts.broker, wireProfile(opts.wire));
  const score = new Map(devices.map((d, i) => [d.workerId, evenShareSeconds(units, profile, i, devices.length)]));
  const [first, ...rest] = devices;
  return [
    first!,
    ...rest.sort(
      (a, b) =>
        score.get(a.workerId)! - score.get(b.workerId)! ||
        (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0),
    ),
  ];
}

/** Fractions ∝ want over the slots, none above its cap; null when the caps cannot hold everything. */
function waterFill(want: readonly number[], caps: readonly number[]): number[] | null {
  if (caps.reduce((a, b) => a + b, 0) < 1 - 1e-12) return null;
  const f = want.map(() => 0);
  let open = want.map((w, d) => w > 0 && caps[d]! > 0);
  let left = 1;
  while (left > 1e-12 && open.some(Boolean)) {
    const total = want.reduce((a, w, d) => a + (open[d] ? w : 0), 0);
    if (total <= 0) break;
    const capped: boolean[] = open.map(() => false);
    let used = 0;
    want.forEach((w, d) => {
      if (!open[d]) return;
      const add = Math.min((left * w) / total, caps[d]! - f[d]!);
      if (add >= caps[d]! - f[d]! - 1e-15) capped[d] = true;
      f[d]! += add;
      used += add;
    });
    left -= used;
    open = open.map((o, d) => o && !capped[d]);
  }
  return left > 1e-9 ? null : f;
}

export interface SplitContext {
  readonly base: readonly number[];
  readonly limits: readonly number[];
  readonly totalWeights: number;
  readonly profile: NetworkProfile;
  readonly rate: readonly number[];
}

/** The divisions of the partitioned layers over the first m slots that the search tries. */
export function splitsFor(m: number, ctx: SplitContext): number[][] {
  const N = ctx.base.length;
  const inSet = (d: number) => d < m;
  const caps = ctx.base.map((b, d) =>
    inSet(d) ? Math.max(0, (ctx.limits[d]! - b) / Math.max(1, ctx.totalWeights)) : 0,
  );
  const out: number[][] = [];
  // The same weights everywhere is the comm objective's division, on every device; by speed or work rate covers the rest.
  for (const weighting of WEIGHTINGS.filter((w) => w !== "weights" || m === N)) {
    const want =
      weighting === "weights"
        ? padded(balancedSplit(ctx.base.slice(0, m), ctx.totalWeights), m, N)
        : ctx.base.map((_, d) =>
            inSet(d) ? (weighting === "speed" ? ctx.profile.slots[d]!.macPerSec : ctx.rate[d]!) : 0,
          );
    for (const sourceFirst of [false, true]) {
      let f: number[] | null;
      if (sourceFirst && m > 1) {
        const own = Math.min(1, caps[0]!);
        const rest = waterFill(
          want.map((w, d) => (d === 0 ? 0 : w)),
          caps.map((c, d) => (d === 0 ? 0 : c / Math.max(1e-12, 1 - own))),
        );
        f = rest && own < 1 ? rest.map((x, d) => (d === 0 ? own : x * (1 - own))) : null;
      } else if (!sourceFirst) f = waterFill(want, caps);
      else continue;
      if (f && !out.some((g) => g.every((x, d) => Math.abs(x - f![d]!) < 1e-9))) out.push(f);
    }
  }
  return out;
}

const padded = (slots: number | readonly number[], m: number, N: number): number[] =>
  Array.from({ length: N }, (_, d) => (d >= m ? 0 : typeof slots === "number" ? 1 / m : slots[d]!));

/** Whether every slot's weights fit its limit whatever the schemes (LOP and LIP cut differently). */
export function fitsAnyScheme(units: readonly Unit[], split: readonly number[], ctx: SplitContext): boolean {
  return divisionTables(units, ctx.profile, new Map()).of(split).fits(0, ctx.base, ctx.limits);
}

/** The fastest plan the options allow, or null when no division fits the budgets (the comm path then explains why). */
export function fastestPlan(network: Network, opts: PlanOptions, given: readonly PlanDevice[]): FastestPlan | null {
  // Every FTP boundary leaves a suffix of the same units: one table per division serves them all.
  const allUnits = partitionUnits(network, 0);
  const devices = orderDevices(given, allUnits, opts);
  const N = devices.length;
  const profile = networkProfile(devices, opts.broker, wireProfile(opts.wire));
  const limits = devices.map((d) =>
    d.memoryBudgetBytes === undefined ? Infinity : Math.floor(d.memoryBudgetBytes / opts.bytesPerElement),
  );
  let best: { seconds: number; layout: Layout; split: number[]; schemes: readonly Scheme[] } | null = null;
  const divisions = divisionTables(allUnits, profile, opts.pinned);
  const layouts = layoutsToTry(network, opts.ftpEnd, opts.grid, N);
  const allSpeed = profile.slots.reduce((a, s) => a + s.macPerSec, 0);
  const multsBefore = prefixSums(network.layers.map((l) => l.stats.mults));
  const fastestFirst = prefixSums(profile.slots.map((s) => s.macPerSec));
  for (const { ftpEnd, grid } of layouts) {
    // Before building the layout: its tiles cannot beat their devices computing the stack in parallel.
    const tiles = Math.min(N, grid.rows * grid.cols);
    const stackFloor = ftpEnd > 0 ? multsBefore[ftpEnd]! / fastestFirst[tiles]! : 0;
    if (best && stackFloor + (multsBefore.at(-1)! - multsBefore[ftpEnd]!) / allSpeed >= best.seconds) continue;
    const l = tryLayout(network, ftpEnd, grid, N, layouts.length > 1);
    if (!l) continue;
    const ftp = ftpStageTime(network, l, profile)?.seconds ?? 0;
    // No chain after this FTP stage can beat every device computing in parallel with nothing on the links.
    const floor = ftp + l.units.reduce((a, u) => a + u.mults, 0) / allSpeed;
    if (best && floor >= best.seconds) continue;
    const totalWeights = l.units.reduce((a, u) => a + u.weights, 0);
    const rate = devices.map((_, d) => 1 / Math.max(1e-12, evenShareSeconds(l.units, profile, d, N)));
    const ctx: SplitContext = { base: l.base, limits, totalWeights, profile, rate };
    const counts = opts.split === "even" ? [N] : Array.from({ length: N }, (_, i) => i + 1);
    for (const m of counts.filter((m) => m >= l.ftpSlots)) {
      const splits = opts.split === "even" ? [padded(l.split, N, N)] : splitsFor(m, ctx);
      for (const split of splits) {
        const division = divisions.of(split);
        const from = allUnits.length - l.units.length;
        if (!division.fits(from, l.base, limits)) continue;
        const chain = opts.strategy === "auto" ? division.fastest(from) : fixedChoice(l.units, split, profile, opts);
        const seconds = ftp + chain.seconds;
        if (!best || seconds < best.seconds * (1 - 1e-9)) best = { seconds, layout: l, split, schemes: chain.schemes };
      }
    }
  }
  if (!best) return null;
  const chosen = { ...best.layout, split: best.split };
  const choice = { schemes: best.schemes, ...chainCost(chosen.units, best.schemes, best.split) };
  return { candidate: account(network, chosen, choice, N), devices, profile, seconds: best.seconds };
}

/** [0, x0, x0 + x1, …]: the sum of the first k values at k. */
function prefixSums(xs: readonly number[]): number[] {
  const out = [0];
  for (const x of xs) out.push(out.at(-1)! + x);
  return out;
}

/** The layout, or null for one that cannot exist (a grid finer than the map) while searching; the comm path explains a given one. */
function tryLayout(network: Network, ftpEnd: number, grid: Grid, N: number, searching: boolean): Layout | null {
  try {
    return layout(network, ftpEnd, grid, N);
  } catch (err) {
    if (searching && err instanceof PlanError) return null;
    throw err;
  }
}

/** A fixed strategy's schemes on one division (they depend on where the suffix starts: FUSE pairs). */
function fixedChoice(
  units: readonly Unit[],
  split: readonly number[],
  profile: NetworkProfile,
  opts: PlanOptions,
): { seconds: number; schemes: readonly Scheme[] } {
  const schemes = fixedSchemes(opts.strategy as Exclude<Strategy, "auto">, units);
  return { schemes, seconds: chainSeconds(units, schemes, split, profile) };
}

interface DivisionTable {
  /** The fastest schemes of units[from..]. */
  fastest(from: number): FastestSchemes;
  /** Whether every slot's weights for units[from..] fit its limit beyond `base`, whatever the schemes. */
  fits(from: number, base: readonly number[], limits: readonly number[]): boolean;
}

/** Per division of the layers (a split), computed once: the fastest suffixes and each slot's weights per suffix. */
function divisionTables(
  units: readonly Unit[],
  profile: NetworkProfile,
  pinned: ReadonlyMap<number, Scheme>,
): { of(split: readonly number[]): DivisionTable } {
  const tables = new Map<string, DivisionTable>();
  return {
    of(split) {
      const key = split.join(",");
      let table = tables.get(key);
      if (!table) {
        // held[k][d]: slot d's most weights for units[k..] (LOP and LIP cut differently).
        const held = [split.map(() => 0)];
        for (let k = units.length - 1; k >= 0; k--) {
          const lop = partWeights(units[k]!, "lop", split);
          const lip = partWeights(units[k]!, "lip", split);
          held.unshift(held[0]!.map((w, d) => w + Math.max(lop[d]!, lip[d]!)));
        }
        let fastest: ((from: number) => FastestSchemes) | undefined;
        table = {
          fastest: (from) => {
            fastest ??= fastestSuffixes(units, split, profile, pinned);
            return fastest(from);
          },
          fits: (from, base, limits) => held[from]!.every((w, d) => base[d]! + w <= limits[d]!),
        };
        tables.set(key, table);
      }
      return table;
    },
  };
}

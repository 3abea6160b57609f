/**
 * makePlan: from a network and the workers present to a Plan.
 *
 * 1. Pick the FTP boundary b (DeepThings' early layers as tiles); "auto" tries every
 *    allowed b and keeps the one with the least modelled communication, preferring
 *    boundaries whose weights fit every worker's memory budget.
 * 2. Choose a scheme for every weighted layer from b on with the paper's ILP.
 * 3. Split channels evenly over the workers (the paper's 1/N), assign tiles round
 *    robin, and account weights, shard bytes and multiplications per worker.
 */
import { PlanError } from "../core/errors.js";
import type { Network } from "../dnn/network.js";
import { BYTES_PER_ELEMENT, type Scheme } from "./costs.js";
import { defaultGrid, ftpCost, type Grid, maxFtpEnd, type Tile, tileStack } from "./ftp.js";
import { allLop, optimalSchemes, type SchemeChoice } from "./ilp.js";
import { finishPlan, networkFingerprint, type Plan, type PlanBody, type PlanDevice } from "./schema.js";
import { partitionUnits, type Unit } from "./units.js";

export type Strategy = "optimal" | "lop";

export interface PlanOptions {
  /** The workers to plan for (their presence: id, memory budget, speed). */
  readonly devices: readonly PlanDevice[];
  /** Layers [0, ftpEnd) run as FTP tiles; 0 = no FTP; "auto" = least communication. */
  readonly ftpEnd: number | "auto";
  /** FTP grid; default: one tile per worker, as square as the worker count allows. */
  readonly grid?: Grid;
  /** "optimal": the paper's ILP; "lop": LOP everywhere (the paper's baseline). */
  readonly strategy: Strategy;
  /** Schemes fixed for some layers (experiments); the ILP chooses the rest. */
  readonly pinned: ReadonlyMap<number, Scheme>;
  /** Model name recorded in the plan; default: the cfg file's base name. */
  readonly name?: string;
}
export const planDefaults = { ftpEnd: "auto", strategy: "optimal", pinned: new Map() } satisfies Omit<PlanOptions, "devices">;

/** One candidate boundary, fully costed. */
export interface Candidate {
  readonly ftpEnd: number;
  readonly grid: Grid;
  readonly tiles: readonly Tile[];
  readonly ftpElements: number;
  readonly units: readonly Unit[];
  readonly choice: SchemeChoice;
  /** FTP stage plus partitioned layers, elements. */
  readonly elements: number;
}

/** Channel range p of n split over `parts` (floor(p·n/parts)): sizes differ by at most one. */
export const channelRange = (n: number, parts: number, p: number): [number, number] => [Math.floor((p * n) / parts), Math.floor(((p + 1) * n) / parts)];

export function evaluateBoundary(network: Network, ftpEnd: number, options: Pick<PlanOptions, "grid" | "strategy" | "pinned">, devices: number): Candidate {
  const grid = options.grid ?? defaultGrid(devices);
  const tiles = ftpEnd > 0 ? tileStack(network, ftpEnd, grid) : [];
  const ftpElements = ftpEnd > 0 ? ftpCost(network, ftpEnd, tiles, devices) : 0;
  const units = partitionUnits(network, ftpEnd);
  if (options.strategy === "lop" && options.pinned.size > 0) throw new PlanError("pinned schemes only apply to the optimal strategy");
  const choice = options.strategy === "lop" ? allLop(units, devices) : optimalSchemes(units, devices, options.pinned);
  return { ftpEnd, grid, tiles, ftpElements, units, choice, elements: ftpElements + choice.elements };
}

interface Accounting {
  readonly weights: number[];
  readonly params: number[];
  readonly mults: number[];
  /** Largest single shard per device, in parameters. */
  readonly largest: number[];
}

/** What each worker holds and computes for one candidate, in plan order of devices. */
function account(network: Network, c: Candidate, devices: number): Accounting {
  const zero = () => new Array<number>(devices).fill(0);
  const acc: Accounting = { weights: zero(), params: zero(), mults: zero(), largest: zero() };
  const hold = (d: number, weights: number, params: number) => {
    acc.weights[d]! += weights;
    acc.params[d]! += params;
    acc.largest[d] = Math.max(acc.largest[d]!, params);
  };
  // FTP: a worker with any tile holds layers [0, b) whole, folded (weights + one bias per filter).
  const stack = network.layers.slice(0, c.ftpEnd);
  const stackWeights = stack.reduce((a, l) => a + l.stats.weights, 0);
  const stackParams = stack.reduce((a, l) => a + (l.stats.weights ? l.stats.weights + l.output.c : 0), 0);
  const withTiles = new Set<number>();
  c.tiles.forEach((t) => {
    const d = t.index % devices;
    withTiles.add(d);
    acc.mults[d]! += t.mults;
  });
  for (const d of withTiles) hold(d, stackWeights, stackParams);
  c.units.forEach((u, k) => {
    const scheme = c.choice.schemes[k]!;
    const splitsInput = scheme === "lip" || scheme === "fuse2";
    const n = splitsInput ? u.channelsIn : u.channelsOut;
    for (let d = 0; d < devices; d++) {
      const [c0, c1] = channelRange(n, devices, d);
      const share = (c1 - c0) / n;
      // Output cuts carry their biases; input cuts leave them to the source's merge.
      hold(d, u.weights * share, u.weights * share + (splitsInput ? 0 : c1 - c0));
      acc.mults[d]! += u.mults * share;
    }
  });
  return acc;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function budgetProblems(devices: readonly PlanDevice[], acc: Accounting): { fatal: string[]; warnings: string[] } {
  const fatal: string[] = [];
  const warnings: string[] = [];
  devices.forEach((d, i) => {
    const budget = d.memoryBudgetBytes;
    if (budget === undefined) return;
    const need = acc.params[i]! * BYTES_PER_ELEMENT;
    const largest = acc.largest[i]! * BYTES_PER_ELEMENT;
    if (largest > budget) fatal.push(`worker ${d.workerId}: its largest shard is ${mb(largest)}, its memory budget ${mb(budget)}`);
    else if (need > budget) warnings.push(`worker ${d.workerId}: its shards total ${mb(need)}, over its ${mb(budget)} budget; it will reload shards while running`);
  });
  return { fatal, warnings };
}

/** Every FTP boundary worth trying: 0 (none) up to the largest allowed. */
function boundaries(network: Network, ftpEnd: PlanOptions["ftpEnd"]): number[] {
  if (ftpEnd !== "auto") {
    if (!Number.isInteger(ftpEnd) || ftpEnd < 0) throw new PlanError(`FTP end must be a layer count ≥ 0, got ${ftpEnd}`);
    return [ftpEnd];
  }
  return Array.from({ length: maxFtpEnd(network) + 1 }, (_, b) => b);
}

export function makePlan(network: Network, options: Pick<PlanOptions, "devices"> & Partial<PlanOptions>): Plan {
  const opts = { ...planDefaults, ...options } satisfies PlanOptions;
  if (opts.devices.length === 0) throw new PlanError("no workers to plan for");
  const devices = [...opts.devices].sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0));
  const dup = devices.find((d, i) => i > 0 && devices[i - 1]!.workerId === d.workerId);
  if (dup) throw new PlanError(`worker '${dup.workerId}' is listed twice`);
  const N = devices.length;

  const tried: { candidate: Candidate; acc: Accounting; problems: ReturnType<typeof budgetProblems> }[] = [];
  const skipped: string[] = [];
  for (const b of boundaries(network, opts.ftpEnd)) {
    try {
      const candidate = evaluateBoundary(network, b, opts, N);
      const acc = account(network, candidate, N);
      tried.push({ candidate, acc, problems: budgetProblems(devices, acc) });
    } catch (err) {
      if (opts.ftpEnd !== "auto" || !(err instanceof PlanError)) throw err;
      skipped.push(`b=${b}: ${err.message}`);
    }
  }
  if (tried.length === 0) throw new PlanError(`no FTP boundary works for ${network.file}:\n  ${skipped.join("\n  ")}`);
  // Prefer candidates whose every shard fits, then those within budget, then least C; ties go to the later boundary.
  const rank = (t: (typeof tried)[number]) => [t.problems.fatal.length > 0 ? 1 : 0, t.problems.warnings.length > 0 ? 1 : 0, t.candidate.elements, -t.candidate.ftpEnd];
  const best = tried.reduce((a, t) => {
    const [ra, rt] = [rank(a), rank(t)];
    for (let i = 0; i < ra.length; i++) if (Math.abs(ra[i]! - rt[i]!) > 1e-9 * Math.max(1, Math.abs(ra[i]!))) return rt[i]! < ra[i]! ? t : a;
    return a;
  });
  if (best.problems.fatal.length > 0) throw new PlanError(`the model does not fit these workers:\n  ${best.problems.fatal.join("\n  ")}`);
  return finishPlan(planBody(network, opts.name, devices, best.candidate, best.acc, best.problems.warnings));
}

function planBody(network: Network, name: string | undefined, devices: readonly PlanDevice[], c: Candidate, acc: Accounting, warnings: string[]): PlanBody {
  const N = devices.length;
  // Parts keep their worker's position as their number; an empty range (fewer channels than workers) is left out.
  const ranges = (n: number) => devices.map((d, p) => ({ part: p, workerId: d.workerId, range: channelRange(n, N, p) })).filter((r) => r.range[0] < r.range[1]);
  const cutParts = (n: number, kind: "output" | "input") => ranges(n).map(({ part, workerId, range: [c0, c1] }) => ({ part, workerId, cut: { kind, c0, c1 } }));
  const carryParts = (n: number) => ranges(n).map(({ part, workerId, range: [c0, c1] }) => ({ part, workerId, c0, c1 }));
  const steps: PlanBody["steps"] = [];
  const unitAt = new Map(c.units.map((u, k) => [u.layer, k]));
  const carriedBy = new Map<number, number>(); // carried layer → channel count of its slice
  for (const layer of network.layers.slice(c.ftpEnd)) {
    const k = unitAt.get(layer.index);
    if (k !== undefined) {
      const u = c.units[k]!;
      const scheme = c.choice.schemes[k]!;
      const splitsInput = scheme === "lip" || scheme === "fuse2";
      const reuse = k > 0 && c.choice.schemes[k - 1] === "lop" && c.units[k - 1]!.reusableByNext;
      steps.push({
        layer: layer.index, scheme, reuse, elements: c.choice.perUnit[k]!,
        parts: splitsInput ? cutParts(u.channelsIn, "input") : cutParts(u.channelsOut, "output"),
      });
      if (!splitsInput) for (const l of u.carried) carriedBy.set(l, u.channelsOut);
      continue;
    }
    const channels = carriedBy.get(layer.index);
    steps.push(channels !== undefined ? { layer: layer.index, scheme: "carry", parts: carryParts(channels) } : { layer: layer.index, scheme: "source" });
  }
  const base = network.file.split(/[\\/]/).pop()!.replace(/\.cfg$/, "");
  return {
    format: "edgefuse-plan",
    version: 1,
    model: { name: name ?? base, fingerprint: networkFingerprint(network), input: network.input, layers: network.layers.length },
    devices: devices.map((d) => ({ ...d })),
    ftp:
      c.ftpEnd > 0
        ? {
            end: c.ftpEnd, grid: c.grid, elements: c.ftpElements,
            tiles: c.tiles.map((t) => ({ index: t.index, workerId: devices[t.index % N]!.workerId, output: t.output, steps: t.steps.map((s) => ({ ...s })), mults: t.mults })),
          }
        : null,
    steps,
    cost: {
      elements: c.elements,
      bytes: c.elements * BYTES_PER_ELEMENT,
      perDevice: devices.map((d, i) => ({
        workerId: d.workerId,
        weights: Math.round(acc.weights[i]!),
        shardBytes: Math.round(acc.params[i]!) * BYTES_PER_ELEMENT,
        mults: Math.round(acc.mults[i]!),
      })),
    },
    warnings,
  };
}

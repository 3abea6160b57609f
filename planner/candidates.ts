/**
 * One candidate plan: an FTP boundary b and grid, the schemes of the layers from b on,
 * and what every device slot then holds, computes and exchanges. makePlan (build.ts)
 * evaluates the candidates the options allow and keeps the best.
 *
 * Per device slot d (the plan's devices in id order):
 * - weights: the FTP stack [0, b) whole if d has a tile, plus its part of every later layer;
 *   the tiles go to the first S slots (S ≤ N) and the later layers are split so that
 *   every slot holds about the same weights (balancedSplit): with the stack on fewer
 *   devices, fewer copies of it are held and each device stays close to total / N;
 * - features: the most feature elements it holds at once, in its FTP tiles or in a layer;
 * - memory = weights + features (elements), the quantity DeepThings minimises;
 * - T: the busiest slot of the FTP stage plus the largest part of every later layer.
 */
import { PlanError } from "../core/errors.js";
import type { Network } from "../dnn/network.js";
import { ftpCost, ftpDevices, type FtpDevice, type Grid, gridsFor, maxFtpEnd, type Tile, tileStack } from "./ftp.js";
import type { SchemeChoice } from "./ilp.js";
import { partFeatures, partMults, partWeights, shares, type Slots } from "./parts.js";
import { type Scheme, splitsInput, type Strategy } from "./schemes.js";
import type { FTP_CHOICES } from "./schema.js";
import { chooseSchemes } from "./strategies.js";
import { partitionUnits, type Unit } from "./units.js";

export type FtpChoice = number | (typeof FTP_CHOICES)[number];

/** A candidate's layout before its schemes are chosen. */
export interface Layout {
  readonly ftpEnd: number;
  readonly grid: Grid;
  readonly tiles: readonly Tile[];
  readonly ftp: readonly FtpDevice[];
  /** Device slots that run FTP tiles: 0..ftpSlots−1 (0 without FTP). */
  readonly ftpSlots: number;
  /** How the partitioned layers are divided among the slots. */
  readonly split: Slots;
  /** Weights of layers [0, ftpEnd), held whole by every slot with a tile. */
  readonly stackWeights: number;
  readonly units: readonly Unit[];
  /** Weights each slot holds before any partitioned layer: the stack, if it has a tile. */
  readonly base: readonly number[];
}

export interface Candidate extends Layout {
  readonly choice: SchemeChoice;
  readonly ftpElements: number;
  /** C: FTP stage plus partitioned layers, elements. */
  readonly elements: number;
  /** Per unit: each slot's weights and multiplications under the chosen scheme. */
  readonly unitWeights: readonly number[][];
  readonly unitMults: readonly number[][];
  /** Per device slot. */
  readonly weights: readonly number[];
  /** Folded parameters (weights plus the biases of output cuts): what its shards hold. */
  readonly params: readonly number[];
  readonly mults: readonly number[];
  readonly features: readonly number[];
  readonly largestWeights: number;
  readonly largestMemory: number;
  /** T: multiplications on the critical path. */
  readonly multsOnPath: number;
}

/** One tile per slot on the first rows·cols slots, or round robin over all N when the grid has more tiles. */
export function layout(network: Network, ftpEnd: number, grid: Grid, devices: number): Layout {
  const tiles = ftpEnd > 0 ? tileStack(network, ftpEnd, grid) : [];
  const ftpSlots = Math.min(devices, tiles.length);
  const ftp = ftpDevices(tiles, devices, ftpSlots);
  const stackWeights = network.layers.slice(0, ftpEnd).reduce((a, l) => a + l.stats.weights, 0);
  const base = ftp.map((d) => (d.tiles.length ? stackWeights : 0));
  const units = partitionUnits(network, ftpEnd);
  const split = balancedSplit(
    base,
    units.reduce((a, u) => a + u.weights, 0),
  );
  return { ftpEnd, grid, tiles, ftp, ftpSlots, split, stackWeights, units, base };
}

/**
 * The fractions of the partitioned layers (weights `total`) that leave every slot with
 * the same weights when slot d already holds base[d]: water filling, f_d ∝ max(0, L − base_d).
 * Equal bases give equal parts: the paper's 1/N, as a count so the formulas stay exact.
 */
export function balancedSplit(base: readonly number[], total: number): Slots {
  const N = base.length;
  if (base.every((b) => b === base[0]) || total <= 0) return N;
  // The level L with Σ max(0, L − base_d) = total: raise it over the bases from the lowest up.
  const sorted = [...base].sort((a, b) => a - b);
  let level = 0;
  for (let k = 1; k <= N; k++) {
    level = (total + sorted.slice(0, k).reduce((a, b) => a + b, 0)) / k;
    if (k === N || level <= sorted[k]!) break;
  }
  return base.map((b) => Math.max(0, level - b) / total);
}

/** Adds everything per slot up for a layout and its schemes. */
export function account(network: Network, l: Layout, choice: SchemeChoice, devices: number): Candidate {
  const zero = () => new Array<number>(devices).fill(0);
  const weights = [...l.base];
  const stackBiases = network.layers
    .slice(0, l.ftpEnd)
    .reduce((a, layer) => a + (layer.stats.weights ? layer.output.c : 0), 0);
  const params = l.base.map((b) => (b ? b + stackBiases : 0));
  const mults = l.ftp.map((d) => d.mults);
  const features = l.ftp.map((d) => d.peakElements);
  const unitWeights: number[][] = [];
  const unitMults: number[][] = [];
  let multsOnPath = Math.max(0, ...mults);
  l.units.forEach((u, k) => {
    const scheme: Scheme = choice.schemes[k]!;
    const w = partWeights(u, scheme, l.split);
    const m = partMults(u, scheme, l.split);
    const f = partFeatures(u, scheme, l.split);
    // Output cuts carry their biases; input cuts leave them to the source's merge.
    const biases = splitsInput(scheme) ? zero() : shares(u, scheme, l.split).map((f) => f * u.channelsOut);
    for (let d = 0; d < devices; d++) {
      weights[d]! += w[d]!;
      params[d]! += w[d]! + biases[d]!;
      mults[d]! += m[d]!;
      features[d] = Math.max(features[d]!, f[d]!);
    }
    unitWeights.push(w);
    unitMults.push(m);
    multsOnPath += Math.max(...m);
  });
  const ftpElements = l.ftpEnd > 0 ? ftpCost(network, l.ftpEnd, l.tiles, l.ftpSlots) : 0;
  return {
    ...l,
    choice,
    ftpElements,
    elements: ftpElements + choice.elements,
    unitWeights,
    unitMults,
    weights,
    params,
    mults,
    features,
    multsOnPath,
    largestWeights: Math.max(...weights),
    largestMemory: Math.max(...weights.map((w, d) => w + features[d]!)),
  };
}

/** A layout and strategy evaluated without a budget (for comparisons and tests). */
export function evaluateBoundary(
  network: Network,
  ftpEnd: number,
  options: { grid?: Grid; strategy: Strategy; pinned: ReadonlyMap<number, Scheme> },
  devices: number,
): Candidate {
  const l = layout(network, ftpEnd, options.grid ?? gridsFor(devices)[0]!, devices);
  return account(network, l, chooseSchemes(l.units, l.split, options)!, devices);
}

/**
 * Every (b, grid) the options allow: b = 0 (no FTP) up to the largest allowed, and
 * for each the grids with one tile per device on 1..N devices (fewer devices hold
 * fewer copies of the stack; layout() balances the rest).
 */
export function layoutsToTry(
  network: Network,
  ftpEnd: FtpChoice,
  grid: Grid | undefined,
  devices: number,
): { ftpEnd: number; grid: Grid }[] {
  const limit = maxFtpEnd(network);
  if (typeof ftpEnd === "number" && (!Number.isInteger(ftpEnd) || ftpEnd < 0 || ftpEnd > limit)) {
    throw new PlanError(
      `the FTP boundary ${ftpEnd} is outside 0..${limit} for ${network.file} (FTP layers must be convolution, maxpool or dropout, ending where a route reads)`,
    );
  }
  const ends = typeof ftpEnd === "number" ? [ftpEnd] : Array.from({ length: limit + 1 }, (_, b) => b);
  const grids = grid ? [grid] : Array.from({ length: devices }, (_, k) => gridsFor(devices - k)).flat();
  return ends.flatMap((b) => (b === 0 ? [{ ftpEnd: 0, grid: grids[0]! }] : grids.map((g) => ({ ftpEnd: b, grid: g }))));
}

/**
 * The order candidates are preferred in. "auto" is DeepThings' criterion: least memory
 * (weights plus peak feature maps) on the fullest device, then least C; "auto-comm"
 * least C first. Remaining ties go to the fewer FTP layers.
 */
export function preference(ftpEnd: FtpChoice): (a: Candidate, b: Candidate) => number {
  const close = (x: number, y: number) => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x), Math.abs(y));
  const by = (x: number, y: number) => (close(x, y) ? 0 : x - y);
  return ftpEnd === "auto-comm"
    ? (a, b) => by(a.elements, b.elements) || by(a.largestMemory, b.largestMemory) || a.ftpEnd - b.ftpEnd
    : (a, b) => by(a.largestMemory, b.largestMemory) || by(a.elements, b.elements) || a.ftpEnd - b.ftpEnd;
}

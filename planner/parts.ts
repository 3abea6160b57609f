/**
 * What one device holds and computes for one partitioned layer, given its scheme.
 *
 * Part p of every layer runs on device slot p (the plan's devices: the source first,
 * then the rest in id order). By default the channels are split evenly: slot p gets
 * ⌊n/N⌋ channels, one more for the first n mod N slots — the paper's 1/N when N
 * divides n, otherwise sizes that differ by one channel, and when n < N the first n
 * slots take one channel each. Front-loading keeps the source (slot 0) in every layer,
 * as the cost model assumes: it is the device that already holds the data.
 *
 * A plan may instead give each slot its own fraction of every layer (Slots as an
 * array): the slots that hold the FTP stack take less of the partitioned layers, so
 * every device ends up holding about the same weights (candidates.ts balancedSplit).
 * LOP and FUSE1 cut output channels, LIP and FUSE2 input channels, so the exact
 * per-device weights depend on the scheme, which is why the ILP's memory budget is
 * checked per device.
 */
import { type Scheme, splitsInput } from "./schemes.js";
import type { Unit } from "./units.js";

/** How partitioned layers are divided: N equal parts, or each slot's fraction (summing to 1). */
export type Slots = number | readonly number[];

export const slotCount = (slots: Slots): number => (typeof slots === "number" ? slots : slots.length);

/**
 * The fractions a layer with n channels is cut into. Equal parts over min(N, n) slots
 * when asked for, or when there are fewer channels than slots (one channel each, the
 * first slots first); otherwise the given fractions.
 */
export function fractionsFor(n: number, slots: Slots): number[] {
  const N = slotCount(slots);
  if (typeof slots !== "number" && n >= N) return [...slots];
  const used = Math.min(N, n);
  return Array.from({ length: N }, (_, p) => (p < used ? 1 / used : 0));
}

/**
 * Channel ranges of n channels cut by `slots`: ⌊n·f_p⌋ channels each, and the channels
 * left over to the largest remainders (the earlier slot on a tie), so equal parts
 * differ by at most one channel with the larger ones first.
 */
export function channelRanges(n: number, slots: Slots): [number, number][] {
  const ideal = fractionsFor(n, slots).map((f) => n * f);
  const sizes = ideal.map(Math.floor);
  const order = ideal.map((x, p) => ({ p, rest: x - sizes[p]! })).sort((a, b) => b.rest - a.rest || a.p - b.p);
  for (let left = n - sizes.reduce((a, b) => a + b, 0), i = 0; left > 0; left--, i++)
    sizes[order[i % order.length]!.p]!++;
  const ranges: [number, number][] = [];
  let c0 = 0;
  for (const size of sizes) {
    ranges.push([c0, c0 + size]);
    c0 += size;
  }
  return ranges;
}

type Sized = Pick<Unit, "channelsIn" | "channelsOut">;

/** The fraction of the layer each device slot computes. */
export function shares(unit: Sized, scheme: Scheme, slots: Slots): number[] {
  const n = splitsInput(scheme) ? unit.channelsIn : unit.channelsOut;
  return channelRanges(n, slots).map(([c0, c1]) => (c1 - c0) / n);
}

/**
 * Weights per device slot (the paper's F_n for this layer). Q is a multiple of both
 * channel counts, so these are whole numbers.
 */
export function partWeights(unit: Sized & Pick<Unit, "weights">, scheme: Scheme, slots: Slots): number[] {
  return shares(unit, scheme, slots).map((f) => Math.round(unit.weights * f));
}

/** Multiplications per device slot (the layer's share of T). */
export function partMults(unit: Sized & Pick<Unit, "mults">, scheme: Scheme, slots: Slots): number[] {
  return shares(unit, scheme, slots).map((f) => unit.mults * f);
}

/**
 * Feature elements a device holds while it runs the layer: LOP / FUSE1 read the whole
 * input M and write their slice of K; LIP / FUSE2 read their slice of M and write
 * partial sums for all of K. This is why FTP pays off on the early layers: there M and
 * K are large and only a spatial cut makes them small.
 */
export function partFeatures(unit: Sized & Pick<Unit, "inputs" | "outputs">, scheme: Scheme, slots: Slots): number[] {
  return shares(unit, scheme, slots).map((f) =>
    splitsInput(scheme) ? unit.inputs * f + unit.outputs : unit.inputs + unit.outputs * f,
  );
}

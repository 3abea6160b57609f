/**
 * What one device holds and computes for one partitioned layer, given its scheme.
 *
 * Part p of every layer runs on device slot p (the plan's devices: the source first,
 * then the rest in id order). Slot p gets ⌊n/N⌋ channels, one more for the first n mod N
 * slots: the paper's 1/N when N divides n, otherwise sizes that differ by one channel,
 * and when n < N the first n slots take one channel each. Front-loading keeps the
 * source (slot 0) in every layer, as the cost model assumes: it is the device that
 * already holds the data, so N−1 shares travel. LOP and FUSE1
 * cut output channels, LIP and FUSE2 input channels, so the exact per-device weights
 * depend on the scheme, which is why the ILP's memory budget is checked per device.
 */
import type { Scheme } from "./costs.js";
import type { Unit } from "./units.js";

/** Channel range p of n split over `parts`: sizes differ by at most one, the larger ones first. */
export function channelRange(n: number, parts: number, p: number): [number, number] {
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const c0 = p * base + Math.min(p, extra);
  return [c0, c0 + base + (p < extra ? 1 : 0)];
}

/** LIP and FUSE2 split input channels (partial sums); LOP and FUSE1 output channels. */
export const splitsInput = (scheme: Scheme): boolean => scheme === "lip" || scheme === "fuse2";

type Sized = Pick<Unit, "channelsIn" | "channelsOut">;

/** The fraction of the layer each device slot computes. */
export function shares(unit: Sized, scheme: Scheme, devices: number): number[] {
  const n = splitsInput(scheme) ? unit.channelsIn : unit.channelsOut;
  return Array.from({ length: devices }, (_, p) => {
    const [c0, c1] = channelRange(n, devices, p);
    return (c1 - c0) / n;
  });
}

/**
 * Weights per device slot (the paper's F_n for this layer). Q is a multiple of both
 * channel counts, so these are whole numbers.
 */
export function partWeights(unit: Sized & Pick<Unit, "weights">, scheme: Scheme, devices: number): number[] {
  return shares(unit, scheme, devices).map((f) => Math.round(unit.weights * f));
}

/** Multiplications per device slot (the layer's share of T). */
export function partMults(unit: Sized & Pick<Unit, "mults">, scheme: Scheme, devices: number): number[] {
  return shares(unit, scheme, devices).map((f) => unit.mults * f);
}

/**
 * Feature elements a device holds while it runs the layer: LOP / FUSE1 read the whole
 * input M and write their slice of K; LIP / FUSE2 read their slice of M and write
 * partial sums for all of K. This is why FTP pays off on the early layers: there M and
 * K are large and only a spatial cut makes them small.
 */
export function partFeatures(unit: Sized & Pick<Unit, "inputs" | "outputs">, scheme: Scheme, devices: number): number[] {
  return shares(unit, scheme, devices).map((f) => (splitsInput(scheme) ? unit.inputs * f + unit.outputs : unit.inputs + unit.outputs * f));
}

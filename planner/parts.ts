/**
 * What one device holds and computes for one partitioned layer, given its scheme.
 *
 * Part p of every layer runs on device slot p (the plan's devices, in id order). Its
 * channel range is [floor(p·n/N), floor((p+1)·n/N)): the paper's 1/N when N divides n,
 * otherwise ranges that differ by one channel, and empty ones when n < N. LOP and FUSE1
 * cut output channels, LIP and FUSE2 input channels, so the exact per-device weights
 * depend on the scheme, which is why the ILP's memory budget is checked per device.
 */
import type { Scheme } from "./costs.js";
import type { Unit } from "./units.js";

/** Channel range p of n split over `parts`: sizes differ by at most one. */
export const channelRange = (n: number, parts: number, p: number): [number, number] => [Math.floor((p * n) / parts), Math.floor(((p + 1) * n) / parts)];

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

/**
 * Random chains of partitioned layers for the tests that check a search against
 * exhaustive enumeration (the scheme ILP, the latency search).
 */
import type { Unit } from "./units.js";

/** Deterministic pseudo-random numbers (mulberry32), so a failure is reproducible. */
export function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Convolution-like units: random channel counts (so N rarely divides them and device
 * weights differ by scheme), maps of 1–25 pixels, 1×1 or 3×3 kernels; some outputs
 * shrink by a carried maxpool, some layers end at a sync point or a routed output.
 */
export function randomChain(rand: () => number, length: number): Unit[] {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  let channelsIn = 1 + Math.floor(rand() * 48);
  let pixels = pick([1, 4, 9, 16, 25]);
  return Array.from({ length }, (_, k) => {
    const channelsOut = 1 + Math.floor(rand() * 48);
    const kernel = pick([1, 9]);
    const weights = channelsIn * channelsOut * kernel;
    const outputs = channelsOut * pixels;
    const reusableByNext = k < length - 1 && rand() < 0.8;
    const pooled = rand() < 0.3 && pixels > 1;
    const unit: Unit = {
      layer: k,
      kind: "convolutional",
      inputs: channelsIn * pixels,
      outputs,
      weights,
      mults: weights * pixels,
      channelsIn,
      channelsOut,
      carried: pooled ? [k] : [],
      carriedOutputs: pooled ? channelsOut * Math.ceil(pixels / 4) : outputs,
      reusableByNext,
      fusableWithNext: reusableByNext && rand() < 0.8,
    };
    if (pooled) pixels = Math.ceil(pixels / 4);
    channelsIn = reusableByNext ? channelsOut : 1 + Math.floor(rand() * 48);
    if (!reusableByNext) pixels = pick([1, 4, 9, 16, 25]);
    return unit;
  });
}

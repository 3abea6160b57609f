/**
 * Seeded synthetic weights in darknet's .weights format, so tests and the demo
 * need no download. Real darknet weights (e.g. yolov2.weights from the darknet
 * project's site) load through the same reader unchanged.
 *
 * The values are scaled so activations stay bounded through deep nets: weights
 * are uniform with He-style variance 2/fan_in (leaky/relu halve the energy), and
 * batch-norm statistics are close to identity.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Network } from "./network.js";
import { isWeighted } from "./weights.js";

/**
 * mulberry32: a tiny, fast, well-known 32-bit PRNG. Written out here because the
 * file format must be byte-identical for a seed across versions, so it cannot
 * depend on a library's choice of algorithm.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** darknet 0.2 header: major 0, minor 2, revision 0, seen (uint64) 0. */
const HEADER = new Uint8Array(new Int32Array([0, 2, 0, 0, 0]).buffer);

export function writeSyntheticWeights(network: Network, seed: number, outPath: string): number {
  const rand = mulberry32(seed);
  const uniform = (n: number, lo: number, hi: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rand();
    return a;
  };
  mkdirSync(dirname(outPath), { recursive: true });
  const tmp = `${outPath}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  let bytes = 0;
  const put = (a: Float32Array | Uint8Array) => {
    bytes += writeSync(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  };
  try {
    put(HEADER);
    for (const layer of network.layers) {
      if (!isWeighted(layer)) continue;
      const n = layer.output.c;
      const fanIn = layer.stats.weights / n;
      const limit = Math.sqrt(6 / fanIn); // uniform(−l, l) has variance l²/3 = 2/fan_in
      const biases = uniform(n, -0.1, 0.1);
      const bn = layer.batchNormalize ? [uniform(n, 0.8, 1.2), uniform(n, -0.1, 0.1), uniform(n, 0.8, 1.2)] : [];
      const weights = uniform(layer.stats.weights, -limit, limit);
      // darknet's order differs between the two kinds (see weights.ts).
      const order = layer.kind === "convolutional" ? [biases, ...bn, weights] : [biases, weights, ...bn];
      order.forEach(put);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, outPath);
  return bytes;
}

/**
 * Synthetic weights for a cfg, generated once and kept in the cache directory
 * (keyed by cfg name, seed and parameter count, so an edited cfg gets new ones).
 */
export function cachedSyntheticWeights(network: Network, seed: number, cacheDir: string): { path: string; created: boolean } {
  const stem = basename(network.file).replace(/\.cfg$/, "");
  const path = join(cacheDir, "weights", `${stem}-p${network.totalParams}-s${seed}.weights`);
  if (existsSync(path)) return { path, created: false };
  writeSyntheticWeights(network, seed, path);
  return { path, created: true };
}

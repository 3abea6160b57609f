/**
 * Seeded synthetic weights in darknet's .weights format, so tests and the demo
 * need no download. Real darknet weights (e.g. yolov2.weights from the darknet
 * project's site) load through the same reader unchanged.
 *
 * The values are scaled so activations stay bounded through deep nets: weights
 * are uniform with He-style variance 2/fan_in (leaky/relu halve the energy), and
 * batch-norm statistics are close to identity.
 *
 * Every file written here carries SYNTHETIC_SEEN in its header (see weights.ts), so
 * whoever loads it later — `run`, the planner, a device — can tell that its boxes mean
 * nothing, wherever the file travelled.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Network } from "./network.js";
import { isSyntheticWeights, isWeighted, readWeightsHeader, SYNTHETIC_SEEN } from "./weights.js";

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

/** Where darknet's 0.2 header keeps its 64-bit `seen`. */
const SEEN_OFFSET = 12;

/** darknet 0.2 header: major 0, minor 2, revision 0, then the 64-bit `seen` that marks the file synthetic. */
function header(): Uint8Array {
  const head = Buffer.alloc(20);
  head.writeInt32LE(2, 4);
  head.writeBigUInt64LE(BigInt(SYNTHETIC_SEEN), SEEN_OFFSET);
  return head;
}

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
    put(header());
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
export function cachedSyntheticWeights(
  network: Network,
  seed: number,
  cacheDir: string,
): { path: string; created: boolean } {
  const stem = basename(network.file).replace(/\.cfg$/, "");
  const path = join(cacheDir, "weights", `${stem}-p${network.totalParams}-s${seed}.weights`);
  if (existsSync(path)) {
    markUnmarkedCache(path);
    return { path, created: false };
  }
  writeSyntheticWeights(network, seed, path);
  return { path, created: true };
}

/**
 * Files cached before the generator marked its output have the same header with
 * `seen` 0: stamp the marker in place (8 header bytes; not one weight changes), so an
 * old cache is known to be synthetic without regenerating it.
 */
function markUnmarkedCache(path: string): void {
  const head = readWeightsHeader(path);
  if (isSyntheticWeights(head) || head.major !== 0 || head.minor !== 2 || head.revision !== 0 || head.seen !== 0)
    return;
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, header().subarray(SEEN_OFFSET), 0, 8, SEEN_OFFSET);
  } finally {
    closeSync(fd);
  }
}

/** What every output made with synthetic weights says (the annotated picture's banner, `run`, `demo`). */
export const syntheticNote = (what = "boxes"): string => `synthetic weights — ${what} are not meaningful`;
export const SYNTHETIC_NOTE = syntheticNote();

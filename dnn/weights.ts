/**
 * darknet .weights files: a header, then every layer's parameters in darknet's own
 * order (src/parser.c load_weights_upto / save_weights_upto).
 *
 *   int32 major, minor, revision; seen: uint64 when (major*10+minor) >= 2, else uint32
 *   convolutional: biases[n], [scales[n], rolling_mean[n], rolling_variance[n]], weights[n·c/g·k·k]
 *   connected:     biases[out], weights[out·in], [scales[out], rolling_mean[out], rolling_variance[out]]
 *
 * The file is read layer by layer straight into per-layer arrays, so a 204 MB
 * YOLOv2 file never sits in memory twice.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { WeightsError } from "../core/errors.js";
import { isWeighted, type WeightedLayer } from "./layer-traits.js";
import type { Layer } from "./layers.js";
import type { Network } from "./network.js";
import { FLOAT32_BYTES } from "../core/dtypes.js";

export interface WeightsHeader {
  readonly major: number;
  readonly minor: number;
  readonly revision: number;
  readonly seen: number;
  /** Header length in bytes: 20 with a 64-bit `seen`, 16 with a 32-bit one. */
  readonly bytes: number;
  /** darknet transposes connected weights stored by very old versions. */
  readonly transposeConnected: boolean;
}

/** Batch-norm statistics as darknet stores them. */
export interface BatchNorm {
  readonly scales: Float32Array;
  readonly mean: Float32Array;
  readonly variance: Float32Array;
}

/** Raw parameters of one weighted layer, as stored in the file. */
export interface RawParams {
  readonly biases: Float32Array;
  /** conv: [filters][c/groups][k][k]; connected: [outputs][inputs]. */
  readonly weights: Float32Array;
  readonly bn?: BatchNorm;
}

export { isWeighted, type WeightedLayer };

const outputsOf = (l: WeightedLayer) => (l.kind === "convolutional" ? l.filters : l.output.c);

/**
 * The `seen` value that marks weights edgefuse generated (dnn/synthetic.ts): the bytes
 * "synth" little-endian, so a hex dump of the header says it. darknet reads `seen`
 * (images trained on) only to resume a training schedule, so the marked file loads and
 * infers exactly as before; a trained file would need 448 billion images to collide.
 * It needs the 64-bit `seen` of a 0.2+ header, which the generator writes.
 */
export const SYNTHETIC_SEEN = Number(Buffer.from("synth\0\0\0", "latin1").readBigUInt64LE(0));

/** Whether weights are edgefuse's generated ones, from a file or its already-read header. */
export function isSyntheticWeights(weights: string | WeightsHeader): boolean {
  const header = typeof weights === "string" ? readWeightsHeader(weights) : weights;
  return header.bytes === 20 && header.seen === SYNTHETIC_SEEN;
}

/** The header of a weights file alone, without the network it belongs to. */
export function readWeightsHeader(path: string): WeightsHeader {
  const fd = openForReading(path);
  try {
    return readHeader(fd, path);
  } finally {
    closeSync(fd);
  }
}

function openForReading(path: string): number {
  try {
    return openSync(path, "r");
  } catch (err) {
    throw new WeightsError(path, `cannot open: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function headerBytes(major: number, minor: number): number {
  return major * 10 + minor >= 2 && major < 1000 && minor < 1000 ? 20 : 16;
}

/** Bytes a weights file for `network` must have, given its header length. */
export function expectedWeightsBytes(network: Network, header = 20): number {
  return header + FLOAT32_BYTES * network.layers.reduce((a, l) => a + (isWeighted(l) ? l.stats.params : 0), 0);
}

/** Where a layer's parameters come from: a file read on demand, or arrays already in memory. */
export interface WeightsSource {
  /** Raw parameters of layer `index`; undefined for layers without weights. Each call reads afresh. */
  read(index: number): RawParams | undefined;
}

export interface WeightsFile extends WeightsSource {
  readonly path: string;
  readonly header: WeightsHeader;
  close(): void;
}

/**
 * Opens a weights file and checks its size against the network; layers are read on
 * demand (by offset), so a caller can build and drop one layer at a time.
 */
export function openWeights(path: string, network: Network): WeightsFile {
  const fd = openForReading(path);
  try {
    const header = readHeader(fd, path);
    const expected = expectedWeightsBytes(network, header.bytes);
    const size = fstatSync(fd).size;
    if (size !== expected) {
      throw new WeightsError(
        path,
        `${size < expected ? "too short" : "too long"} for ${network.file}: expected ${expected} bytes ` +
          `(${header.bytes}-byte header + ${(expected - header.bytes) / FLOAT32_BYTES} float32 parameters), got ${size} bytes`,
      );
    }
    const offsets: number[] = [];
    let at = header.bytes;
    for (const l of network.layers) {
      offsets.push(at);
      if (isWeighted(l)) at += FLOAT32_BYTES * l.stats.params;
    }
    return {
      path,
      header,
      read: (index) => readLayer(fd, network.layers[index]!, offsets[index]!, header),
      close: () => closeSync(fd),
    };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Reads every layer at once (small nets, tests). */
export function readWeights(
  path: string,
  network: Network,
): WeightsSource & { readonly header: WeightsHeader; readonly layers: readonly (RawParams | undefined)[] } {
  const file = openWeights(path, network);
  try {
    const layers = network.layers.map((l) => file.read(l.index));
    // A copy per read, as WeightsSource promises: foldBatchNorm folds in place, so a
    // second reader (the planner cutting a shard again) would otherwise fold twice.
    return { header: file.header, layers, read: (i) => layers[i] && structuredClone(layers[i]) };
  } finally {
    file.close();
  }
}

function readHeader(fd: number, path: string): WeightsHeader {
  const size = fstatSync(fd).size;
  if (size < 16) throw new WeightsError(path, `too short for a darknet header: ${size} bytes`);
  const head = Buffer.alloc(20);
  readSync(fd, head, 0, Math.min(20, size), 0);
  const major = head.readInt32LE(0);
  const minor = head.readInt32LE(4);
  const revision = head.readInt32LE(8);
  const bytes = headerBytes(major, minor);
  const seen = bytes === 20 ? Number(head.readBigUInt64LE(12)) : head.readUInt32LE(12);
  return { major, minor, revision, seen, bytes, transposeConnected: major > 1000 || minor > 1000 };
}

function readLayer(fd: number, layer: Layer, offset: number, header: WeightsHeader): RawParams | undefined {
  if (!isWeighted(layer)) return undefined;
  const take = (n: number): Float32Array => {
    const out = new Float32Array(n);
    readSync(fd, new Uint8Array(out.buffer), 0, n * FLOAT32_BYTES, offset);
    offset += n * FLOAT32_BYTES;
    return out;
  };
  const n = outputsOf(layer);
  const biases = take(n);
  if (layer.kind === "convolutional") {
    const bn = layer.batchNormalize ? { scales: take(n), mean: take(n), variance: take(n) } : undefined;
    return { biases, bn, weights: take(layer.stats.weights) };
  }
  let weights = take(layer.stats.weights);
  if (header.transposeConnected) weights = transpose(weights, layer.stats.inputs, n);
  const bn = layer.batchNormalize ? { scales: take(n), mean: take(n), variance: take(n) } : undefined;
  return { biases, weights, bn };
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  return out;
}

/**
 * Weight shards: the cut of a network's weights one device needs for its tasks,
 * as one binary blob (content-addressed by its sha256 on the wire).
 *
 *   bytes 0–3   "EFS1"
 *   bytes 4–7   uint32 LE: length J of the JSON index
 *   J bytes     JSON index: [{ layer, cut, weights: count, bias: count }], zod-checked
 *   padding to a multiple of 4, then every entry's weights then bias, float32 LE
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { WireError } from "../core/errors.js";
import type { Cut, CutParams } from "./slices.js";
import { FLOAT32_BYTES } from "../core/dtypes.js";

const MAGIC = "EFS1";

export interface ShardEntry {
  readonly layer: number;
  readonly cut: Cut;
  readonly params: CutParams;
}

const cutSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("whole") }),
  z.object({ kind: z.literal("output"), c0: z.number().int().nonnegative(), c1: z.number().int().positive() }),
  z.object({ kind: z.literal("input"), c0: z.number().int().nonnegative(), c1: z.number().int().positive() }),
]);
const indexSchema = z.array(
  z.object({
    layer: z.number().int().nonnegative(),
    cut: cutSchema,
    weights: z.number().int().nonnegative(),
    bias: z.number().int().nonnegative(),
  }),
);

export function encodeShard(entries: readonly ShardEntry[]): Buffer {
  const index = entries.map((e) => ({
    layer: e.layer,
    cut: e.cut,
    weights: e.params.weights.length,
    bias: e.params.bias?.length ?? 0,
  }));
  const json = Buffer.from(JSON.stringify(index));
  const head = 8 + json.length;
  const dataStart = Math.ceil(head / FLOAT32_BYTES) * FLOAT32_BYTES; // float32-aligned data
  const floats = index.reduce((a, e) => a + e.weights + e.bias, 0);
  const out = Buffer.alloc(dataStart + FLOAT32_BYTES * floats);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(json.length, 4);
  json.copy(out, 8);
  const data = new Float32Array(out.buffer, out.byteOffset + dataStart, floats);
  let at = 0;
  for (const e of entries) {
    data.set(e.params.weights, at);
    at += e.params.weights.length;
    if (e.params.bias) {
      data.set(e.params.bias, at);
      at += e.params.bias.length;
    }
  }
  return out;
}

export function decodeShard(bytes: Uint8Array, where = "shard"): ShardEntry[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8 || buf.toString("latin1", 0, 4) !== MAGIC)
    throw new WireError(where, `not a weight shard (expected magic ${MAGIC})`);
  const jsonLength = buf.readUInt32LE(4);
  if (8 + jsonLength > buf.length)
    throw new WireError(where, `truncated shard index: ${jsonLength} bytes announced, ${buf.length - 8} present`);
  let index: z.infer<typeof indexSchema>;
  try {
    index = indexSchema.parse(JSON.parse(buf.toString("utf8", 8, 8 + jsonLength)));
  } catch (err) {
    throw new WireError(where, `bad shard index: ${(err as Error).message}`);
  }
  const dataStart = Math.ceil((8 + jsonLength) / FLOAT32_BYTES) * FLOAT32_BYTES;
  const floats = index.reduce((a, e) => a + e.weights + e.bias, 0);
  if (buf.length !== dataStart + FLOAT32_BYTES * floats) {
    throw new WireError(
      where,
      `shard holds ${buf.length - dataStart} data bytes, its index describes ${FLOAT32_BYTES * floats}`,
    );
  }
  // Entries are views into the blob's own memory when it is 4-byte aligned (no copy of
  // a shard's weights), else into one aligned copy.
  const at0 = buf.byteOffset + dataStart;
  const data =
    at0 % 4 === 0
      ? new Float32Array(buf.buffer, at0, floats)
      : new Float32Array(buf.buffer.slice(at0, buf.byteOffset + buf.length));
  // The layers' arrays lie back to back in index order: each takes the next `count` floats.
  let at = 0;
  const next = (count: number): Float32Array => {
    const slice = data.subarray(at, at + count);
    at += count;
    return slice;
  };
  return index.map((e) => {
    const weights = next(e.weights);
    const bias = e.bias ? next(e.bias) : undefined;
    return { layer: e.layer, cut: e.cut, params: { weights, bias } };
  });
}

export const shardId = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

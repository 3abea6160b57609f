/**
 * Tensor codecs for the wire: the bytes a frame's data holds for each dtype
 * (core/dtypes.ts), and back into float32, which is all the executor and onnxruntime
 * ever see. Elements are in the tensor's flat order (row-major, C·H·W), little-endian.
 *
 * - float32: the values as they are (encoding is a view, no copy).
 * - float16: IEEE half, rounded to nearest even (broker/half.ts); subnormals down to
 *   2^-24 and ±0 as they are. NaN, ±inf and finite values that round beyond 65504
 *   are refused with a WireError naming the tensor and the element: a half cannot hold
 *   them, and silently clamping or mapping an activation would change the result
 *   without a trace. A sender with such values sends float32, which carries them.
 * - q8: blocks of 32 consecutive values, each 34 bytes: a float16 scale, then 32 int8
 *   values q = round(x / scale), decoded as q · scale (distributed-llama's Q80
 *   layout). The scale is max|x| / 127 rounded up to a half, never down, so no value
 *   needs more than ±127 and every element comes back within scale / 2, subnormal
 *   scales included; an all-zero block has scale 0. Blocks run in flat order: along the
 *   innermost dimension when its size is a multiple of 32; otherwise a block may span
 *   two rows, which costs nothing in accuracy (the bound is per block) and keeps every
 *   block but the tensor's last one full. That last block, when shorter (r < 32 values),
 *   carries its scale and only its r values: 2 + r bytes. NaN, ±inf and values whose
 *   scale would exceed the largest half (|x| > 127 · 65504) are refused.
 * - uint8: image data, k → k / 255 as darknet reads a pixel (bit-identical to its float).
 *   Encoding rounds x · 255 to the nearest integer: exact for pixels that came in that
 *   way, within 1/510 otherwise; values outside [0, 1] are refused.
 *
 * Decoding writes into a Float32Array the caller gives, at an offset, and can decode a
 * run of elements [first, first + count) alone, so a receiver decodes straight into the
 * input it will run on, around what it already holds, without a second buffer.
 */
import { WireError } from "../core/errors.js";
import { DTYPES, encodedBytes, type Dtype } from "../core/dtypes.js";
import { halfBitsAtLeast, halfFromFloatBits, halfToFloatTable, HALF_MAX, isHalfFinite } from "./half.js";

const Q8_BLOCK = DTYPES.q8.block.values;
const Q8_SCALE_BYTES = DTYPES.q8.block.scaleBytes;
const Q8_STRIDE = Q8_SCALE_BYTES + Q8_BLOCK;
/** The largest max|x| a block can have: 127 times the largest half scale. */
const Q8_MAX_ABS = 127 * HALF_MAX;

/** k / 255 for every byte, computed as darknet computes a pixel (float of k / 255.). */
const UINT8_TO_FLOAT = Float32Array.from({ length: 256 }, (_, k) => k / 255);

/**
 * The bytes of `values` as `dtype`. float32 gives a view of `values`' own memory;
 * every other type a fresh buffer of encodedBytes(dtype, values.length). `where`
 * names the tensor in a refusal.
 */
export function encodeTensor(dtype: Dtype, values: Float32Array, where: string): Uint8Array {
  if (dtype === "float32") return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(encodedBytes(dtype, values.length));
  if (dtype === "float16") encodeFloat16(values, new Uint16Array(out.buffer), where);
  else if (dtype === "q8") encodeQ8(values, out, where);
  else encodeUint8(values, out, where);
  return out;
}

/** Where decodeInto puts what it decodes. */
export interface DecodeTarget {
  target: Float32Array;
  /** Index in `target` of the first decoded element (default 0). */
  at?: number;
  /** First element of the tensor to decode (default 0). */
  first?: number;
  /** Elements to decode (default: from `first` to the end). */
  count?: number;
}

/**
 * Decodes `payload`, the bytes of a tensor of `elements` values of `dtype`, into
 * float32 in place: elements [first, first + count) go to target[at …]. A payload of
 * the wrong size is a WireError naming `where`; a run outside the tensor or the
 * target is the caller's mistake (RangeError).
 */
export function decodeInto(
  dtype: Dtype,
  payload: Uint8Array,
  elements: number,
  { target, at = 0, first = 0, count = elements - first }: DecodeTarget,
  where: string,
): void {
  const expected = encodedBytes(dtype, elements);
  if (payload.byteLength !== expected) {
    throw new WireError(where, `${elements} × ${dtype} = ${expected} bytes, payload is ${payload.byteLength}`);
  }
  if (first < 0 || count < 0 || first + count > elements || at < 0 || at + count > target.length) {
    throw new RangeError(
      `cannot decode elements [${first}, ${first + count}) of ${elements} into [${at}, ${at + count}) of ${target.length}`,
    );
  }
  if (dtype === "float32") decodeFloat32(payload, target, at, first, count);
  else if (dtype === "float16") decodeFloat16(payload, target, at, first, count);
  else if (dtype === "q8") decodeQ8(payload, target, at, first, count, where);
  else for (let i = 0; i < count; i++) target[at + i] = UINT8_TO_FLOAT[payload[first + i]!]!;
}

function encodeFloat16(values: Float32Array, out: Uint16Array, where: string): void {
  // Int32 rather than Uint32: V8 keeps the bits as small integers, not doubles (25 % faster here).
  const bits = new Int32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) {
    const h = halfFromFloatBits(bits[i]!);
    if (!isHalfFinite(h)) refuse(where, i, values[i]!, "float16 holds finite values up to ±65504");
    out[i] = h;
  }
}

function encodeQ8(values: Float32Array, out: Uint8Array, where: string): void {
  const q = new Int8Array(out.buffer, out.byteOffset, out.byteLength);
  const scales = halfToFloatTable();
  for (let start = 0, o = 0; start < values.length; start += Q8_BLOCK, o += Q8_STRIDE) {
    const end = Math.min(values.length, start + Q8_BLOCK);
    let maxAbs = 0;
    for (let i = start; i < end; i++) {
      const a = Math.abs(values[i]!);
      // One comparison in the common case; NaN fails both.
      if (!(a <= maxAbs)) {
        if (a > maxAbs) maxAbs = a;
        else refuse(where, i, values[i]!, "q8 holds finite values");
      }
    }
    if (maxAbs > Q8_MAX_ABS) {
      const i = start + values.subarray(start, end).findIndex((v) => Math.abs(v) === maxAbs);
      refuse(where, i, values[i]!, `q8 holds |x| up to 127 × ${HALF_MAX}`);
    }
    const h = halfBitsAtLeast(maxAbs / 127);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    const inverse = maxAbs === 0 ? 0 : 1 / scales[h]!;
    // round(y) for y in [−127, 127] as floor(y + 128.5) − 128: Math.round is 3 × slower here.
    for (let i = start, at = o + Q8_SCALE_BYTES; i < end; i++, at++) q[at] = ((values[i]! * inverse + 128.5) | 0) - 128;
  }
}

function encodeUint8(values: Float32Array, out: Uint8Array, where: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v >= 0 && v <= 1)) refuse(where, i, v, "uint8 holds image data in [0, 1]");
    out[i] = (v * 255 + 0.5) | 0; // round half up, as Math.round, 3 × faster
  }
}

function refuse(where: string, index: number, value: number, holds: string): never {
  throw new WireError(where, `element ${index} is ${value}: ${holds} (send this tensor as float32)`);
}

function decodeFloat32(payload: Uint8Array, target: Float32Array, at: number, first: number, count: number): void {
  const bytes = new Uint8Array(target.buffer, target.byteOffset + 4 * at, 4 * count);
  bytes.set(payload.subarray(4 * first, 4 * (first + count)));
}

function decodeFloat16(payload: Uint8Array, target: Float32Array, at: number, first: number, count: number): void {
  const values = halfToFloatTable();
  const offset = payload.byteOffset + 2 * first;
  if (offset % 2 === 0) {
    const halves = new Uint16Array(payload.buffer, offset, count);
    for (let i = 0; i < count; i++) target[at + i] = values[halves[i]!]!;
    return;
  }
  // A payload at an odd address (a frame inside a larger buffer): the same, byte by byte.
  for (let i = 0, b = 2 * first; i < count; i++, b += 2) target[at + i] = values[payload[b]! | (payload[b + 1]! << 8)]!;
}

function decodeQ8(
  payload: Uint8Array,
  target: Float32Array,
  at: number,
  first: number,
  count: number,
  where: string,
): void {
  const scales = halfToFloatTable();
  const q = new Int8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  const end = first + count;
  let i = first;
  while (i < end) {
    const block = Math.floor(i / Q8_BLOCK);
    const o = block * Q8_STRIDE;
    const scale = scales[payload[o]! | (payload[o + 1]! << 8)]!;
    // The encoder writes only finite scales ≥ 0; anything else is a damaged frame.
    if (!(scale >= 0 && scale <= HALF_MAX)) throw new WireError(where, `q8 block ${block} has scale ${scale}`);
    const blockEnd = Math.min(end, (block + 1) * Q8_BLOCK);
    // Element i of the tensor sits at byte o + 2 + (i mod 32) of its block.
    const base = o + Q8_SCALE_BYTES - block * Q8_BLOCK;
    for (; i < blockEnd; i++) target[at + i - first] = q[base + i]! * scale;
  }
}

/**
 * Binary tensor frames: one tensor of one layer of one job, as it crosses the wire.
 *
 * Layout (little-endian, fixed 128-byte header, then the data):
 *
 * | offset | bytes | field        | notes                                              |
 * |-------:|------:|--------------|----------------------------------------------------|
 * |      0 |     4 | magic        | ASCII "EFT1"                                       |
 * |      4 |     2 | version      | u16, 1                                             |
 * |      6 |     1 | dtype        | u8, core/dtypes.ts codes: 1 float32, 2 float16,    |
 * |        |       |              | 3 q8, 4 uint8 (0 invalid; others reserved)         |
 * |      7 |     1 | rank         | u8, 1..8                                           |
 * |      8 |     4 | layer        | u32, the network layer the tensor belongs to       |
 * |     12 |     4 | part         | u32, partition index within the layer (0 if whole) |
 * |     16 |     8 | payloadBytes | u64, bytes of data after the header                |
 * |     24 |    32 | shape        | 8 × u32, first `rank` used (e.g. C,H,W), rest 0    |
 * |     56 |     1 | jobIdBytes   | u8, 1..64                                          |
 * |     57 |     3 | reserved     | 0                                                  |
 * |     60 |     4 | computeUs    | u32, µs the sender computed to make it (0: unknown) |
 * |     64 |    64 | jobId        | ASCII (topics.ts ID_PATTERN), zero-padded          |
 * |    128 |     … | data         | payloadBytes = encodedBytes(dtype, product(shape)) |
 *
 * Why 128 bytes: fixed offsets keep decoding trivial, and a multiple of 8 keeps the
 * data aligned for a zero-copy Float32Array (or a later float64) view.
 *
 * The data is encoded as codecs.ts says for its dtype; a receiver always gets float32
 * back (decodeFrame, decodeFrameInto). float32, the default, travels as it is and
 * decodes to a view without a copy.
 *
 * A frame always holds a whole tensor. A frame larger than the broker's packet
 * limit is split by chunking.ts, whose chunk header carries the chunk index/count
 * and total bytes for frames and weight shards alike — one reassembly path.
 */
import { endianness } from "node:os";
import { WireError } from "../core/errors.js";
import { ID_PATTERN } from "./topics.js";
import { DTYPES, encodedBytes, type Dtype } from "../core/dtypes.js";
import { decodeInto, encodeTensor } from "./codecs.js";

export const FRAME_MAGIC = "EFT1";
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 128;
export const MAX_RANK = 8;
const MAX_JOB_ID_BYTES = 64;

/** Element types a frame can carry (core/dtypes.ts); the numbers are the wire codes. */
export { DTYPES, type Dtype };

const DTYPE_BY_CODE = new Map<number, Dtype>(Object.entries(DTYPES).map(([name, d]) => [d.code, name as Dtype]));

/** Everything in a frame but the data. */
export interface FrameMeta {
  jobId: string;
  layer: number;
  part: number;
  /** Dimensions, outermost first (darknet: C, H, W). */
  shape: readonly number[];
  /** Time the sender spent computing this tensor (for traces); whole microseconds on the wire. */
  computeMs?: number;
  /** How the data travels (codecs.ts); float32 when absent. */
  dtype?: Dtype;
}

/** A frame's header, decoded: everything but the data. */
export interface FrameHeader extends FrameMeta {
  dtype: Dtype;
}

/** A decoded frame; `data` is float32 whatever the dtype on the wire. */
export interface Frame extends FrameHeader {
  data: Float32Array;
}

// Float32Array uses host byte order; the wire is little-endian, as are x64 and arm64.
if (endianness() !== "LE") throw new Error("edgefuse frames need a little-endian host");

const elementCount = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);

function checkMeta(meta: FrameMeta, where: string): void {
  const problem = metaProblem(meta);
  if (problem) throw new WireError(where, problem);
}

function metaProblem({ jobId, layer, part, shape }: FrameMeta): string | null {
  if (!ID_PATTERN.test(jobId)) return `invalid jobId ${JSON.stringify(jobId)}`;
  if (!Number.isInteger(layer) || layer < 0 || layer > 0xffffffff) return `invalid layer ${layer}`;
  if (!Number.isInteger(part) || part < 0 || part > 0xffffffff) return `invalid part ${part}`;
  if (shape.length < 1 || shape.length > MAX_RANK) return `rank ${shape.length} outside 1..${MAX_RANK}`;
  const bad = shape.findIndex((d) => !Number.isInteger(d) || d < 1 || d > 0xffffffff);
  if (bad >= 0) return `shape[${bad}] = ${shape[bad]} is not a positive u32`;
  return null;
}

const frameName = (meta: FrameMeta) => `frame ${meta.jobId}/${meta.layer}/${meta.part}`;

/** Do these bytes start as a frame does (its magic)? What tells a frame from an encoded image on the same topic. */
export const isFrame = (bytes: Uint8Array): boolean =>
  bytes.byteLength >= 4 && Buffer.from(bytes.buffer, bytes.byteOffset, 4).toString("latin1") === FRAME_MAGIC;

/** Writes the 128-byte header for a tensor of `meta.shape` sent as `meta.dtype` (default float32). */
export function encodeFrameHeader(meta: FrameMeta): Buffer {
  checkMeta(meta, frameName(meta));
  const dtype = meta.dtype ?? "float32";
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.write(FRAME_MAGIC, 0, "ascii");
  header.writeUInt16LE(FRAME_VERSION, 4);
  header.writeUInt8(DTYPES[dtype].code, 6);
  header.writeUInt8(meta.shape.length, 7);
  header.writeUInt32LE(meta.layer, 8);
  header.writeUInt32LE(meta.part, 12);
  header.writeBigUInt64LE(BigInt(encodedBytes(dtype, elementCount(meta.shape))), 16);
  for (const [i, d] of meta.shape.entries()) header.writeUInt32LE(d, 24 + 4 * i);
  header.writeUInt8(meta.jobId.length, 56);
  header.writeUInt32LE(Math.min(0xffffffff, Math.max(0, Math.round((meta.computeMs ?? 0) * 1000))), 60);
  header.write(meta.jobId, 64, "ascii");
  return header;
}

/**
 * A frame as two buffers: the header and the data as `meta.dtype`, which for float32
 * is a view of `data`'s own memory (no copy) and otherwise its encoding. Hand both to
 * publishChunked, which copies each byte once into its packets. A value the dtype
 * cannot carry is a WireError naming the frame and the element (codecs.ts).
 */
export function frameParts(meta: FrameMeta, data: Float32Array): [header: Buffer, data: Buffer] {
  const expected = elementCount(meta.shape);
  if (data.length !== expected) {
    throw new WireError(
      frameName(meta),
      `shape [${meta.shape.join(", ")}] needs ${expected} elements, data has ${data.length}`,
    );
  }
  const header = encodeFrameHeader(meta);
  const encoded = encodeTensor(meta.dtype ?? "float32", data, frameName(meta));
  return [header, Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength)];
}

/**
 * frameParts as `meta.dtype` when every value fits that type, and otherwise as float32,
 * which carries any value (a float16 cannot hold 1e5 or NaN): the header says which
 * went, and the receiver decodes either. What a plan asks for is a size, not a rounding
 * the tensor cannot take.
 */
export function framePartsOrFloat32(
  meta: FrameMeta,
  data: Float32Array,
): { parts: [header: Buffer, data: Buffer]; dtype: Dtype } {
  const dtype = meta.dtype ?? "float32";
  try {
    return { parts: frameParts(meta, data), dtype };
  } catch (err) {
    if (dtype === "float32" || !(err instanceof WireError)) throw err;
    return { parts: frameParts({ ...meta, dtype: "float32" }, data), dtype: "float32" };
  }
}

/** A frame as one buffer (one copy of the data). */
export function encodeFrame(meta: FrameMeta, data: Float32Array): Buffer {
  return Buffer.concat(frameParts(meta, data));
}

/**
 * Reads and fully validates a frame. `where` (usually the topic) names the source
 * in every WireError. The data is float32 for every dtype: for float32 a view of
 * `bytes` when it is 4-byte aligned, otherwise (and for every other dtype) a new array.
 */
export function decodeFrame(bytes: Uint8Array, where = "frame"): Frame {
  const dataBytes = bytes.byteLength - FRAME_HEADER_BYTES;
  // A frame shorter than its header gets decodeFrameHeader's "truncated frame" error.
  const header = decodeFrameHeader(bytes.subarray(0, FRAME_HEADER_BYTES), dataBytes, where);
  const dataOffset = bytes.byteOffset + FRAME_HEADER_BYTES;
  if (header.dtype === "float32" && dataOffset % 4 === 0) {
    return { ...header, data: new Float32Array(bytes.buffer, dataOffset, dataBytes / 4) };
  }
  const data = new Float32Array(elementCount(header.shape));
  decodeInto(header.dtype, bytes.subarray(FRAME_HEADER_BYTES), data.length, { target: data }, where);
  return { ...header, data };
}

/**
 * Reads and fully validates a frame and decodes its data into `target` from index
 * `at` on, whatever its dtype, without an array of its own. A target too short for
 * the frame is a WireError (the frame is not what the receiver expects). To place a
 * tensor around a slice already held, decode its header alone (decodeFrameHeader)
 * and each run of its elements with codecs.ts decodeInto.
 */
export function decodeFrameInto(bytes: Uint8Array, target: Float32Array, at = 0, where = "frame"): FrameHeader {
  const header = decodeFrameHeader(bytes.subarray(0, FRAME_HEADER_BYTES), bytes.byteLength - FRAME_HEADER_BYTES, where);
  const elements = elementCount(header.shape);
  if (at < 0 || at + elements > target.length) {
    throw new WireError(
      where,
      `shape [${header.shape.join(", ")}] = ${elements} elements do not fit at ${at} of ${target.length}`,
    );
  }
  decodeInto(header.dtype, bytes.subarray(FRAME_HEADER_BYTES), elements, { target, at }, where);
  return header;
}

/**
 * Reads and fully validates a frame's 128-byte header for `dataBytes` of data that
 * follow it (or that went elsewhere: a message reassembled into place, see
 * chunking.ts Placement).
 */
export function decodeFrameHeader(header: Uint8Array, dataBytes: number, where = "frame"): FrameHeader {
  const fail = (problem: string): never => {
    throw new WireError(where, problem);
  };
  if (header.byteLength !== FRAME_HEADER_BYTES) {
    fail(`truncated frame: ${header.byteLength} bytes, the header alone is ${FRAME_HEADER_BYTES}`);
  }
  const buf = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  const magic = buf.toString("latin1", 0, 4);
  if (magic !== FRAME_MAGIC) fail(`bad magic ${JSON.stringify(magic)}, expected ${JSON.stringify(FRAME_MAGIC)}`);
  const version = buf.readUInt16LE(4);
  if (version !== FRAME_VERSION) fail(`unsupported frame version ${version}, this build reads ${FRAME_VERSION}`);
  const dtypeCode = buf.readUInt8(6);
  const dtype = DTYPE_BY_CODE.get(dtypeCode) ?? fail(`unknown dtype code ${dtypeCode}`);
  const rank = buf.readUInt8(7);
  if (rank < 1 || rank > MAX_RANK) fail(`rank ${rank} outside 1..${MAX_RANK}`);
  const layer = buf.readUInt32LE(8);
  const part = buf.readUInt32LE(12);
  const payloadBytes = buf.readBigUInt64LE(16);
  const shape = Array.from({ length: rank }, (_, i) => buf.readUInt32LE(24 + 4 * i));
  if (shape.some((d) => d === 0)) fail(`shape [${shape.join(", ")}] has a zero dimension`);
  const jobIdBytes = buf.readUInt8(56);
  if (jobIdBytes < 1 || jobIdBytes > MAX_JOB_ID_BYTES)
    fail(`jobId length ${jobIdBytes} outside 1..${MAX_JOB_ID_BYTES}`);
  const jobId = buf.toString("latin1", 64, 64 + jobIdBytes);
  if (!ID_PATTERN.test(jobId)) fail(`invalid jobId ${JSON.stringify(jobId)}`);

  if (payloadBytes !== BigInt(dataBytes)) {
    fail(`header says ${payloadBytes} payload bytes, frame carries ${dataBytes}`);
  }
  const shapeBytes = encodedBytes(dtype, elementCount(shape));
  if (shapeBytes !== dataBytes) {
    fail(`shape [${shape.join(", ")}] × ${dtype} = ${shapeBytes} bytes, payload is ${dataBytes}`);
  }
  const computeMs = buf.readUInt32LE(60) / 1000;
  return { jobId, layer, part, shape, dtype, computeMs };
}

/**
 * Binary tensor frames: one tensor of one layer of one job, as it crosses the wire.
 *
 * Layout (little-endian, fixed 128-byte header, then the data):
 *
 * | offset | bytes | field        | notes                                              |
 * |-------:|------:|--------------|----------------------------------------------------|
 * |      0 |     4 | magic        | ASCII "EFT1"                                       |
 * |      4 |     2 | version      | u16, 1                                             |
 * |      6 |     1 | dtype        | u8, 1 = float32 (0 invalid; 2+ reserved)           |
 * |      7 |     1 | rank         | u8, 1..8                                           |
 * |      8 |     4 | layer        | u32, the network layer the tensor belongs to       |
 * |     12 |     4 | part         | u32, partition index within the layer (0 if whole) |
 * |     16 |     8 | payloadBytes | u64, bytes of data after the header                |
 * |     24 |    32 | shape        | 8 × u32, first `rank` used (e.g. C,H,W), rest 0    |
 * |     56 |     1 | jobIdBytes   | u8, 1..64                                          |
 * |     57 |     3 | reserved     | 0                                                  |
 * |     60 |     4 | computeUs    | u32, µs the sender computed to make it (0: unknown) |
 * |     64 |    64 | jobId        | ASCII (topics.ts ID_PATTERN), zero-padded          |
 * |    128 |     … | data         | payloadBytes = product(shape) × dtype size         |
 *
 * Why 128 bytes: fixed offsets keep decoding trivial, and a multiple of 8 keeps the
 * data aligned for a zero-copy Float32Array (or a later float64) view.
 *
 * A frame always holds a whole tensor. A frame larger than the broker's packet
 * limit is split by chunking.ts, whose chunk header carries the chunk index/count
 * and total bytes for frames and weight shards alike — one reassembly path.
 */
import { endianness } from "node:os";
import { WireError } from "../core/errors.js";
import { ID_PATTERN } from "./topics.js";
import { DTYPES, type Dtype } from "../core/dtypes.js";

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
}

export interface Frame extends FrameMeta {
  dtype: Dtype;
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

/** Writes the 128-byte header for a float32 tensor of `meta.shape`. */
export function encodeFrameHeader(meta: FrameMeta): Buffer {
  checkMeta(meta, `frame ${meta.jobId}/${meta.layer}/${meta.part}`);
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.write(FRAME_MAGIC, 0, "ascii");
  header.writeUInt16LE(FRAME_VERSION, 4);
  header.writeUInt8(DTYPES.float32.code, 6);
  header.writeUInt8(meta.shape.length, 7);
  header.writeUInt32LE(meta.layer, 8);
  header.writeUInt32LE(meta.part, 12);
  header.writeBigUInt64LE(BigInt(elementCount(meta.shape) * DTYPES.float32.bytes), 16);
  for (const [i, d] of meta.shape.entries()) header.writeUInt32LE(d, 24 + 4 * i);
  header.writeUInt8(meta.jobId.length, 56);
  header.writeUInt32LE(Math.min(0xffffffff, Math.max(0, Math.round((meta.computeMs ?? 0) * 1000))), 60);
  header.write(meta.jobId, 64, "ascii");
  return header;
}

/**
 * A frame as two buffers: the header and a view of `data`'s own memory (no copy).
 * Hand both to publishChunked, which copies each byte once into its packets.
 */
export function frameParts(meta: FrameMeta, data: Float32Array): [header: Buffer, data: Buffer] {
  const expected = elementCount(meta.shape);
  if (data.length !== expected) {
    throw new WireError(
      `frame ${meta.jobId}/${meta.layer}/${meta.part}`,
      `shape [${meta.shape.join(", ")}] needs ${expected} elements, data has ${data.length}`,
    );
  }
  return [encodeFrameHeader(meta), Buffer.from(data.buffer, data.byteOffset, data.byteLength)];
}

/** A frame as one buffer (one copy of the data). */
export function encodeFrame(meta: FrameMeta, data: Float32Array): Buffer {
  return Buffer.concat(frameParts(meta, data));
}

/**
 * Reads and fully validates a frame. `where` (usually the topic) names the source
 * in every WireError. The returned data is a view of `bytes` when it is 4-byte
 * aligned, otherwise a copy.
 */
export function decodeFrame(bytes: Uint8Array, where = "frame"): Frame {
  const dataBytes = bytes.byteLength - FRAME_HEADER_BYTES;
  // A frame shorter than its header gets decodeFrameHeader's "truncated frame" error.
  const meta = decodeFrameHeader(bytes.subarray(0, FRAME_HEADER_BYTES), dataBytes, where);
  const dataOffset = bytes.byteOffset + FRAME_HEADER_BYTES;
  const data =
    dataOffset % 4 === 0
      ? new Float32Array(bytes.buffer, dataOffset, dataBytes / 4)
      : new Float32Array(new Uint8Array(bytes.buffer, dataOffset, dataBytes).slice().buffer);
  return { ...meta, data };
}

/**
 * Reads and fully validates a frame's 128-byte header for `dataBytes` of data that
 * follow it (or that went elsewhere: a message reassembled into place, see
 * chunking.ts Placement).
 */
export function decodeFrameHeader(header: Uint8Array, dataBytes: number, where = "frame"): Omit<Frame, "data"> {
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
  const shapeBytes = elementCount(shape) * DTYPES[dtype].bytes;
  if (shapeBytes !== dataBytes) {
    fail(`shape [${shape.join(", ")}] × ${dtype} = ${shapeBytes} bytes, payload is ${dataBytes}`);
  }
  const computeMs = buf.readUInt32LE(60) / 1000;
  return { jobId, layer, part, shape, dtype, computeMs };
}

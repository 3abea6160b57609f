/**
 * The idx files MNIST and Fashion-MNIST ship in (gzip'd, big-endian): a magic of two
 * zero bytes, a type byte (0x08: unsigned bytes) and a dimension count, then each
 * dimension as a 32-bit count, then the data. Images are 3-dimensional (N × rows ×
 * columns), labels 1-dimensional.
 */
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { errorMessage, InputError } from "../../core/errors.js";

const UNSIGNED_BYTE = 0x08;

export interface IdxImages {
  readonly count: number;
  readonly w: number;
  readonly h: number;
  /** count × h × w bytes, row-major, 0 = black. */
  readonly pixels: Uint8Array;
}

function readIdx(path: string, dims: number): { shape: number[]; data: Uint8Array } {
  let bytes: Buffer;
  try {
    const raw = readFileSync(path);
    bytes = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
  } catch (err) {
    throw new InputError(path, `cannot read idx file: ${errorMessage(err)}`);
  }
  const headerBytes = 4 + 4 * dims;
  if (bytes.length < headerBytes || bytes[0] !== 0 || bytes[1] !== 0)
    throw new InputError(path, "not an idx file (it does not start with two zero bytes)");
  if (bytes[2] !== UNSIGNED_BYTE) throw new InputError(path, `idx type 0x${bytes[2]!.toString(16)}, expected 0x08`);
  if (bytes[3] !== dims) throw new InputError(path, `idx file of ${bytes[3]} dimensions, expected ${dims}`);
  const shape = Array.from({ length: dims }, (_, i) => bytes.readUInt32BE(4 + 4 * i));
  const size = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== headerBytes + size)
    throw new InputError(path, `idx data is ${bytes.length - headerBytes} bytes, its header says ${size}`);
  return { shape, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, size) };
}

export function readIdxImages(path: string): IdxImages {
  const { shape, data } = readIdx(path, 3);
  return { count: shape[0]!, h: shape[1]!, w: shape[2]!, pixels: data };
}

export function readIdxLabels(path: string): Uint8Array {
  return readIdx(path, 1).data;
}

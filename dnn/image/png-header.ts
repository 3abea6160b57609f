/**
 * A PNG's IHDR, read before anything is inflated, and the exact size of the image data
 * it allows once inflated (PNG spec 7.2: each row of each pass is a filter byte and its
 * packed samples). pngjs inflates an interlaced image without any bound, so the decoder
 * first inflates the data itself within that size (a second inflate, ~0.3 s for 120 MB).
 */
import { inflateSync } from "node:zlib";

export interface PngHeader {
  readonly width: number;
  readonly height: number;
  readonly depth: number;
  readonly colorType: number;
  readonly interlaced: boolean;
}

/** A structural problem; the caller turns it into an InputError naming the source. */
export class PngStructureError extends Error {}

const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Readonly<Record<number, readonly number[]>> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
/** Adam7: first column, column step, first row, row step of each of the 7 passes. */
export const ADAM7 = [
  [0, 8, 0, 8],
  [4, 8, 0, 8],
  [0, 4, 4, 8],
  [2, 4, 0, 4],
  [0, 2, 2, 4],
  [1, 2, 0, 2],
  [0, 1, 1, 2],
] as const;
const SIGNATURE_BYTES = 8;
/**
 * Encoders write IDAT chunks of 8–64 KB: a 120 MB image is a few thousand. Millions of
 * empty 12-byte chunks would each be held by pngjs (and here) until the image ends.
 */
const MAX_CHUNKS = 100_000;

export function readPngHeader(bytes: Uint8Array): PngHeader {
  if (bytes.length < SIGNATURE_BYTES + 8 + 13) throw new PngStructureError(`truncated: ${bytes.length} bytes, no IHDR`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(8) !== 13 || chunkType(bytes, 12) !== "IHDR")
    throw new PngStructureError("the first chunk is not a 13-byte IHDR");
  const header = {
    width: view.getUint32(16),
    height: view.getUint32(20),
    depth: bytes[24]!,
    colorType: bytes[25]!,
    interlaced: bytes[28] === 1,
  };
  // PNG spec 11.2.2: sizes are 1 .. 2^31 − 1.
  if (header.width < 1 || header.height < 1 || header.width > 0x7fffffff || header.height > 0x7fffffff)
    throw new PngStructureError(`IHDR size ${header.width}×${header.height} is not allowed`);
  if (!DEPTHS[header.colorType]?.includes(header.depth))
    throw new PngStructureError(`IHDR colour type ${header.colorType} with bit depth ${header.depth} is not allowed`);
  if (bytes[28]! > 1) throw new PngStructureError(`IHDR interlace method ${bytes[28]} is not allowed`);
  return header;
}

/** Bytes of the inflated image data: height × (1 + row bytes), over the 7 passes when interlaced. */
export function pngDataBytes(h: PngHeader): number {
  const rowBytes = (w: number) => Math.ceil((w * CHANNELS[h.colorType]! * h.depth) / 8);
  if (!h.interlaced) return h.height * (1 + rowBytes(h.width));
  let total = 0;
  for (const [x0, dx, y0, dy] of ADAM7) {
    const w = Math.ceil(Math.max(0, h.width - x0) / dx);
    const rows = Math.ceil(Math.max(0, h.height - y0) / dy);
    if (w > 0) total += rows * (1 + rowBytes(w)); // an empty pass has no rows at all
  }
  return total;
}

/** Bytes of pngjs's decoded RGBA: 8-bit samples, 16-bit ones kept as 16 bits (skipRescale). */
export const pngSampleBytes = (h: PngHeader): number => h.width * h.height * 4 * (h.depth === 16 ? 2 : 1);

/**
 * Inflates the IDAT data, failing as soon as it passes the size the header allows: a
 * few MB of deflate can otherwise inflate to gigabytes. Chunks it cannot walk are left
 * to the decoder, which names what is wrong with them.
 */
export function checkPngInflation(bytes: Uint8Array, header: PngHeader): void {
  const allowed = pngDataBytes(header);
  const data = idatData(bytes);
  try {
    inflateSync(data, { maxOutputLength: allowed });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
      throw new PngStructureError(
        `image data inflates past the ${allowed} bytes its ${header.width}×${header.height} header allows`,
      );
    // Corrupt deflate data: pngjs reads it next and says what is wrong.
  }
}

function idatData(bytes: Uint8Array): Buffer {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Uint8Array[] = [];
  for (let at = SIGNATURE_BYTES, count = 0; at + 8 <= bytes.length; count++) {
    if (count === MAX_CHUNKS) throw new PngStructureError(`more than ${MAX_CHUNKS} chunks, the limit of a PNG`);
    const length = view.getUint32(at);
    const type = chunkType(bytes, at + 4);
    const end = at + 8 + length;
    if (end > bytes.length || type === "IEND") break;
    if (type === "IDAT") parts.push(bytes.subarray(at + 8, end));
    at = end + 4; // CRC
  }
  return Buffer.concat(parts);
}

const chunkType = (bytes: Uint8Array, at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));

/**
 * Hostile images for the suites that check they are refused (dnn/image/limits.test.ts,
 * actors/hostile-images.test.ts), built byte by byte so each is exactly the attack it
 * names: a header that claims more than it carries, deflate data that inflates past
 * its header, a JPEG scan that ends early.
 */
import { crc32, deflateSync } from "node:zlib";
import { createCanvas } from "@napi-rs/canvas";

/** A PNG chunk: length, type, data and its CRC. */
export const pngChunk = (type: string, data: Uint8Array) => {
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
};

/** An 8- or 16-bit PNG of colour type `colorType` whose IDAT is `raw`, deflated (what its header allows or not). */
export function pngWith(
  w: number,
  h: number,
  opts: { colorType: number; depth: number; interlaced?: boolean },
  raw: Buffer,
) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = opts.depth;
  ihdr[9] = opts.colorType;
  ihdr[12] = opts.interlaced ? 1 : 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", deflateSync(raw)),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Where the first segment with `marker` starts, walking segment lengths from SOI (headers only, not scans). */
export const markerAt = (bytes: Uint8Array, marker: number) => {
  for (let at = 2; at + 4 <= bytes.length; ) {
    if (bytes[at + 1] === marker) return at;
    at += 2 + ((bytes[at + 2]! << 8) | bytes[at + 3]!);
  }
  throw new Error(`no marker ${marker.toString(16)}`);
};

/** A small real JPEG whose frame header claims w × h: a few hundred bytes of scan data for millions of blocks. */
export function claimingJpeg(w: number, h: number): Buffer {
  const canvas = createCanvas(64, 64);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "rgb(200,40,40)";
  ctx.fillRect(0, 0, 64, 64);
  const jpeg = Buffer.from(canvas.toBuffer("image/jpeg", 90));
  const sof = markerAt(jpeg, 0xc0);
  jpeg.writeUInt16BE(h, sof + 5);
  jpeg.writeUInt16BE(w, sof + 7);
  return jpeg;
}

/** `bytes` cut after `n` bytes, with an EOI marker put back: what passes a walk that only looks for EOI. */
export const cutWithEoi = (bytes: Uint8Array, n: number) =>
  Buffer.concat([bytes.subarray(0, n), Buffer.from([0xff, 0xd9])]);

/** An interlaced 64×64 RGBA PNG whose data inflates to `inflatedBytes` where its header allows 16504. */
export const interlacedBomb = (inflatedBytes: number) =>
  pngWith(64, 64, { colorType: 6, depth: 8, interlaced: true }, Buffer.alloc(inflatedBytes));

/**
 * A walk over a JPEG's marker segments, done before handing the bytes to the decoder:
 * - it finds truncation for sure: libjpeg (and so Skia) decodes a cut-off scan with a
 *   warning and grey fill, but a walk that must reach EOI cannot be fooled, and the
 *   scans it collects are read through by jpeg-scan.ts;
 * - it reads the frame size from SOF, so oversized images are refused before decoding;
 * - it drops APP1 (EXIF/XMP) and APP2 (ICC) segments: stb_image, which darknet uses,
 *   ignores EXIF orientation and colour profiles, and Skia would apply both.
 */
import type { JpegComponent, ScanSegment } from "./jpeg-scan.js";

export interface JpegFrame {
  readonly width: number;
  readonly height: number;
  readonly components: number;
  readonly progressive: boolean;
  readonly frameComponents: readonly JpegComponent[];
  /** Huffman tables, restart intervals and scans, in file order (what checkJpegScans reads). */
  readonly segments: readonly ScanSegment[];
  /** The same JPEG without APP1/APP2 segments. */
  readonly bytes: Uint8Array;
}

/** A structural problem; the caller turns it into an InputError naming the source. */
export class JpegStructureError extends Error {}

// SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
/** Huffman baseline, extended and progressive: all stb_image (darknet's decoder) reads. */
const SUPPORTED_SOF = new Set([0xc0, 0xc1, 0xc2]);
const isRst = (m: number) => m >= 0xd0 && m <= 0xd7;
const DROPPED_APPS = new Set([0xe1, 0xe2]);
/**
 * A JPEG has a few dozen segments and a progressive one about 10 scans (libjpeg's
 * default); each scan is read through over every block (jpeg-scan.ts), so 30-byte
 * scans by the million would be hours of work, and tiny segments by the million a
 * heap of ranges. Far past what encoders write, and refused.
 */
const MAX_SEGMENTS = 10_000;
const MAX_SCANS = 100;
const DHT = 0xc4;
const DRI = 0xdd;
const SOS = 0xda;

const hex = (m: number) => `0x${m.toString(16).toUpperCase().padStart(2, "0")}`;

export function readJpegFrame(bytes: Uint8Array): JpegFrame {
  const n = bytes.length;
  if (n < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new JpegStructureError("no SOI marker");
  const u16 = (at: number) => (bytes[at]! << 8) | bytes[at + 1]!;
  const kept: [number, number][] = [[0, 2]];
  let frame: Omit<JpegFrame, "bytes" | "segments"> | undefined;
  const segments: ScanSegment[] = [];
  let scans = 0;
  let pos = 2;
  for (;;) {
    if (pos >= n) throw new JpegStructureError(`truncated: ends at byte ${n} before the EOI marker`);
    if (kept.length > MAX_SEGMENTS)
      throw new JpegStructureError(`more than ${MAX_SEGMENTS} marker segments before byte ${pos}, the limit of a JPEG`);
    if (bytes[pos] !== 0xff)
      throw new JpegStructureError(`expected a marker at byte ${pos}, found ${hex(bytes[pos]!)}`);
    while (pos + 1 < n && bytes[pos + 1] === 0xff) pos++; // fill bytes
    if (pos + 1 >= n) throw new JpegStructureError(`truncated: ends at byte ${n} inside a marker`);
    const marker = bytes[pos + 1]!;
    if (marker === 0xd9) {
      if (frame === undefined) throw new JpegStructureError("no SOF (frame header) before EOI");
      if (scans === 0) throw new JpegStructureError("no image data (SOS) before EOI");
      kept.push([pos, pos + 2]);
      return { ...frame, segments, bytes: concat(bytes, kept) };
    }
    if (isRst(marker) || marker === 0x01) {
      kept.push([pos, pos + 2]);
      pos += 2;
      continue;
    }
    if (pos + 4 > n) throw new JpegStructureError(`truncated: segment ${hex(marker)} at byte ${pos} has no length`);
    const at = pos;
    const length = u16(pos + 2);
    const end = pos + 2 + length;
    if (length < 2 || end > n)
      throw new JpegStructureError(
        `truncated: segment ${hex(marker)} at byte ${pos} needs ${length} bytes, ${n - pos - 2} left`,
      );
    if (isSof(marker)) frame = readFrameHeader(bytes, pos, marker, frame);
    else if (marker === DHT) segments.push({ kind: "dht", at: pos, body: bytes.subarray(pos + 4, end) });
    else if (marker === DRI) {
      if (length < 4) throw new JpegStructureError(`restart interval at byte ${pos} is too short (${length} bytes)`);
      segments.push({ kind: "dri", at: pos, interval: u16(pos + 4) });
    }
    if (!DROPPED_APPS.has(marker)) kept.push([pos, end]);
    pos = end;
    if (marker !== SOS) continue;
    // Entropy-coded data follows SOS: skip to the next marker that is neither a stuffed
    // 0xFF00 nor a restart marker.
    if (frame === undefined) throw new JpegStructureError(`scan at byte ${pos} comes before any frame header`);
    if (++scans > MAX_SCANS)
      throw new JpegStructureError(`more than ${MAX_SCANS} scans at byte ${at}, the limit of a JPEG`);
    const start = pos;
    while (pos + 1 < n && !(bytes[pos] === 0xff && bytes[pos + 1] !== 0x00 && !isRst(bytes[pos + 1]!))) pos++;
    if (pos + 1 >= n)
      throw new JpegStructureError(
        `truncated: scan ${scans} data runs to the end of the file (${n} bytes) without an EOI marker`,
      );
    kept.push([start, pos]);
    segments.push({ kind: "sos", at, header: bytes.subarray(at + 4, end), data: bytes.subarray(start, pos) });
  }
}

function readFrameHeader(
  bytes: Uint8Array,
  pos: number,
  marker: number,
  earlier: Omit<JpegFrame, "bytes" | "segments"> | undefined,
): Omit<JpegFrame, "bytes" | "segments"> {
  if (earlier !== undefined) throw new JpegStructureError(`a second frame header at byte ${pos}`);
  if (!SUPPORTED_SOF.has(marker))
    throw new JpegStructureError(
      `frame type SOF${marker - 0xc0} at byte ${pos} is not a Huffman baseline, extended or progressive JPEG (the kinds darknet's stb_image reads)`,
    );
  const length = (bytes[pos + 2]! << 8) | bytes[pos + 3]!;
  const count = bytes[pos + 9] ?? 0;
  if (length < 8 + 3 * count || count < 1 || count > 4)
    throw new JpegStructureError(`frame header at byte ${pos} is malformed (${count} components in ${length} bytes)`);
  const frameComponents: JpegComponent[] = [];
  for (let i = 0; i < count; i++) {
    const at = pos + 10 + 3 * i;
    const c = { id: bytes[at]!, h: bytes[at + 1]! >> 4, v: bytes[at + 1]! & 15 };
    if (c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4)
      throw new JpegStructureError(`frame header at byte ${pos}: component ${c.id} has sampling ${c.h}×${c.v}`);
    frameComponents.push(c);
  }
  const frame = {
    height: (bytes[pos + 5]! << 8) | bytes[pos + 6]!,
    width: (bytes[pos + 7]! << 8) | bytes[pos + 8]!,
    components: count,
    progressive: marker === 0xc2,
    frameComponents,
  };
  if (frame.width === 0 || frame.height === 0)
    throw new JpegStructureError(`frame size ${frame.width}×${frame.height} is not supported`);
  return frame;
}

function concat(bytes: Uint8Array, ranges: readonly [number, number][]): Uint8Array {
  const total = ranges.reduce((a, [s, e]) => a + e - s, 0);
  if (total === bytes.length) return bytes;
  const out = new Uint8Array(total);
  let at = 0;
  for (const [s, e] of ranges) {
    out.set(bytes.subarray(s, e), at);
    at += e - s;
  }
  return out;
}

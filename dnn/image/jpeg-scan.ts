/**
 * Checks that a JPEG's entropy-coded data holds every block its frame declares, by
 * reading it as a decoder does (Huffman codes and their extra bits; no dequantising, no
 * IDCT). libjpeg (and so Skia) decodes a scan that ends early with a warning and grey
 * fill, so a few hundred bytes that claim 7000×7000 would decode to 49 MP of grey and
 * give detections of nothing; this refuses them instead, before any pixel is allocated.
 *
 * Baseline and extended (SOF0/SOF1) and progressive (SOF2) Huffman JPEGs, the kinds
 * stb_image (darknet's decoder) reads: ITU-T T.81 F.2.2 and G.1.2. A progressive
 * image's AC refinement scans need to know which coefficients earlier scans made
 * non-zero: one byte per coefficient of a component, only for progressive images.
 */
import { JpegStructureError } from "./jpeg-markers.js";

export interface JpegComponent {
  readonly id: number;
  /** Sampling factors. */
  readonly h: number;
  readonly v: number;
}

/** The segments the scans depend on, in file order; `at` is the marker's byte offset. */
export type ScanSegment =
  | { readonly kind: "dht"; readonly at: number; readonly body: Uint8Array }
  | { readonly kind: "dri"; readonly at: number; readonly interval: number }
  | { readonly kind: "sos"; readonly at: number; readonly header: Uint8Array; readonly data: Uint8Array };

export interface ScannedFrame {
  readonly width: number;
  readonly height: number;
  readonly progressive: boolean;
  readonly frameComponents: readonly JpegComponent[];
  readonly segments: readonly ScanSegment[];
}

/** The entropy-coded data ran out: the scan is cut short. */
class DataEnd extends Error {}

export function checkJpegScans(frame: ScannedFrame): void {
  const comps = frame.frameComponents;
  const hMax = Math.max(...comps.map((c) => c.h));
  const vMax = Math.max(...comps.map((c) => c.v));
  const mcusX = Math.ceil(frame.width / (8 * hMax));
  const mcusY = Math.ceil(frame.height / (8 * vMax));
  // Blocks of a component scanned alone: its own size, not padded to whole MCUs (A.2.2).
  const ownBlocks = comps.map((c) => ({
    w: Math.ceil(Math.ceil((frame.width * c.h) / hMax) / 8),
    h: Math.ceil(Math.ceil((frame.height * c.v) / vMax) / 8),
  }));
  const tables: { dc: (Huffman | undefined)[]; ac: (Huffman | undefined)[] } = { dc: [], ac: [] };
  const nonZero: (Uint8Array | undefined)[] = [];
  let restartInterval = 0;
  let scanNo = 0;
  /** Components whose DC coefficients some scan carried: one without any would be flat grey. */
  const withDc = new Set<number>();
  for (const seg of frame.segments) {
    if (seg.kind === "dht") readTables(seg.body, seg.at, tables);
    else if (seg.kind === "dri") restartInterval = seg.interval;
    else {
      scanNo++;
      const scan = readScanHeader(seg.header, seg.at, comps, frame.progressive);
      const members = scan.members.map((m) => ({
        ...m,
        dc: tables.dc[m.td] ?? STANDARD_TABLES.dc[m.td === 0 ? 0 : 1]!,
        ac: tables.ac[m.ta] ?? STANDARD_TABLES.ac[m.ta === 0 ? 0 : 1]!,
        blocks: ownBlocks[m.index]!,
      }));
      if (scan.ss === 0 && scan.ah === 0) for (const m of members) withDc.add(m.index);
      const single = members.length === 1;
      const mcuCount = single ? members[0]!.blocks.w * members[0]!.blocks.h : mcusX * mcusY;
      const reader = new BitReader(seg.data);
      const state = { eobRun: 0 };
      const blockOf = (m: (typeof members)[number], row: number, col: number): Uint8Array | undefined => {
        if (scan.ss === 0) return undefined;
        const flags = nonZero[m.index] ?? new Uint8Array(m.blocks.w * m.blocks.h * 64);
        nonZero[m.index] = flags;
        const at = (row * m.blocks.w + col) * 64;
        return flags.subarray(at, at + 64);
      };
      let mcu = 0;
      try {
        for (; mcu < mcuCount; mcu++) {
          if (restartInterval > 0 && mcu > 0 && mcu % restartInterval === 0) {
            reader.restart((mcu / restartInterval - 1) % 8);
            state.eobRun = 0;
          }
          if (single) {
            const m = members[0]!;
            const row = Math.floor(mcu / m.blocks.w);
            readBlock(reader, scan, m, blockOf(m, row, mcu % m.blocks.w), state);
          } else {
            for (const m of members) for (let b = 0; b < m.h * m.v; b++) readBlock(reader, scan, m, undefined, state);
          }
        }
      } catch (err) {
        if (!(err instanceof DataEnd)) throw err;
        throw new JpegStructureError(
          `truncated: scan ${scanNo} (at byte ${seg.at}) has data for ${mcu} of the ${mcuCount} MCUs of its ${frame.width}×${frame.height} frame${err.message ? ` (${err.message})` : ""}`,
        );
      }
    }
  }
  const missing = comps.filter((_, i) => !withDc.has(i)).map((c) => c.id);
  if (missing.length > 0)
    throw new JpegStructureError(
      `truncated: no scan carries component${missing.length > 1 ? "s" : ""} ${missing.join(", ")} of the frame (${scanNo} scans before EOI)`,
    );
}

interface Scan {
  readonly members: readonly { index: number; h: number; v: number; td: number; ta: number }[];
  readonly ss: number;
  readonly se: number;
  readonly ah: number;
}

function readScanHeader(header: Uint8Array, at: number, comps: readonly JpegComponent[], progressive: boolean): Scan {
  const ns = header[0] ?? 0;
  if (ns < 1 || ns > 4 || header.length < 1 + 2 * ns + 3)
    throw new JpegStructureError(`scan header at byte ${at} is malformed (${ns} components in ${header.length} bytes)`);
  const members = [];
  for (let i = 0; i < ns; i++) {
    const id = header[1 + 2 * i]!;
    const index = comps.findIndex((c) => c.id === id);
    if (index < 0) throw new JpegStructureError(`scan at byte ${at} names component ${id}, which the frame lacks`);
    const t = header[2 + 2 * i]!;
    members.push({ index, h: comps[index]!.h, v: comps[index]!.v, td: t >> 4, ta: t & 15 });
  }
  const ss = header[1 + 2 * ns]!;
  const se = header[2 + 2 * ns]!;
  const ah = header[3 + 2 * ns]! >> 4;
  const bad = progressive
    ? ss > se || se > 63 || (ss === 0 && se !== 0) || (ss > 0 && ns !== 1)
    : ss !== 0 || se !== 63 || ah !== 0;
  if (bad || members.some((m) => m.td > 3 || m.ta > 3))
    throw new JpegStructureError(`scan at byte ${at} has an invalid spectral selection ${ss}..${se} or table number`);
  return { members, ss, se, ah };
}

/** One block's share of a scan. `flags`: which of its coefficients are non-zero (progressive AC scans). */
function readBlock(
  reader: BitReader,
  scan: Scan,
  m: { dc: Huffman; ac: Huffman },
  flags: Uint8Array | undefined,
  state: { eobRun: number },
): void {
  if (scan.ss === 0) {
    if (scan.ah > 0) return void reader.bit(); // DC refinement: one bit
    const t = reader.decode(m.dc);
    if (t > 16) throw new JpegStructureError(`DC difference of ${t} bits is invalid`);
    reader.bits(t);
    if (scan.se === 0) return; // a progressive DC scan
    for (let k = 1; k < 64; ) {
      const rs = reader.decode(m.ac);
      const r = rs >> 4;
      const s = rs & 15;
      if (s === 0) {
        if (r !== 15) return; // end of block
        k += 16;
      } else {
        k += r;
        reader.bits(s);
        k++;
      }
      if (k > 64) throw new JpegStructureError("AC coefficients run past the end of a block");
    }
    return;
  }
  if (scan.ah === 0) readAcFirst(reader, scan, m.ac, flags!, state);
  else readAcRefine(reader, scan, m.ac, flags!, state);
}

/** G.1.2.2: a progressive scan's first pass over AC coefficients ss..se. */
function readAcFirst(reader: BitReader, scan: Scan, ac: Huffman, flags: Uint8Array, state: { eobRun: number }): void {
  if (state.eobRun > 0) return void state.eobRun--;
  for (let k = scan.ss; k <= scan.se; ) {
    const rs = reader.decode(ac);
    const r = rs >> 4;
    const s = rs & 15;
    if (s === 0) {
      if (r < 15) {
        state.eobRun = (1 << r) - 1 + (r > 0 ? reader.bits(r) : 0);
        return;
      }
      k += 16;
    } else {
      k += r;
      if (k > 63) throw new JpegStructureError("AC coefficients run past the end of a block");
      reader.bits(s);
      flags[k++] = 1;
    }
  }
}

/** G.1.2.3: a refinement pass; each coefficient already non-zero takes one correction bit. */
function readAcRefine(reader: BitReader, scan: Scan, ac: Huffman, flags: Uint8Array, state: { eobRun: number }): void {
  let k = scan.ss;
  if (state.eobRun === 0) {
    while (k <= scan.se) {
      const rs = reader.decode(ac);
      let r = rs >> 4;
      const s = rs & 15;
      if (s === 0 && r < 15) {
        state.eobRun = (1 << r) + (r > 0 ? reader.bits(r) : 0);
        break;
      }
      if (s > 1) throw new JpegStructureError(`refinement coefficient of ${s} bits is invalid`);
      if (s === 1) reader.bit(); // its sign
      // Skip r zero coefficients (correcting the non-zero ones on the way), then place the new one.
      for (; k <= scan.se; k++) {
        if (flags[k]) reader.bit();
        else if (r === 0) {
          if (s === 1) flags[k] = 1;
          k++;
          break;
        } else r--;
      }
    }
    if (state.eobRun === 0) return;
  }
  // Inside an end-of-band run: the rest of the band only corrects non-zero coefficients.
  for (; k <= scan.se; k++) if (flags[k]) reader.bit();
  state.eobRun--;
}

// ---------------------------------------------------------------------------
// Huffman tables and the bit reader

/**
 * A canonical Huffman table (T.81 F.2.2.3): per code length, the largest code and where
 * its symbols start; and for codes of up to FAST_BITS bits a lookup by the next
 * FAST_BITS bits, (length << 8) | symbol, 0 where the code is longer.
 */
interface Huffman {
  readonly fast: Uint16Array;
  readonly maxCode: Int32Array;
  readonly valPtr: Int32Array;
  readonly minCode: Int32Array;
  readonly symbols: Uint8Array;
}

const FAST_BITS = 9;
const FAST_MASK = (1 << FAST_BITS) - 1;

function huffman(counts: ArrayLike<number>, symbols: Uint8Array): Huffman {
  const fast = new Uint16Array(1 << FAST_BITS);
  const maxCode = new Int32Array(18).fill(-1);
  const valPtr = new Int32Array(17);
  const minCode = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1]!;
    if (n > 0) {
      valPtr[len] = k;
      minCode[len] = code;
      for (let i = 0; i < n && len <= FAST_BITS; i++) {
        const symbol = symbols[k + i];
        const first = (code + i) << (FAST_BITS - len);
        if (symbol !== undefined) fast.fill((len << 8) | symbol, first, first + (1 << (FAST_BITS - len)));
      }
      code += n;
      k += n;
      maxCode[len] = code - 1;
    }
    code <<= 1;
  }
  return { fast, maxCode, valPtr, minCode, symbols };
}

function readTables(
  body: Uint8Array,
  at: number,
  tables: { dc: (Huffman | undefined)[]; ac: (Huffman | undefined)[] },
) {
  for (let p = 0; p < body.length; ) {
    const tcTh = body[p]!;
    const counts = body.subarray(p + 1, p + 17);
    const total = counts.reduce((a, n) => a + n, 0);
    const tc = tcTh >> 4;
    const th = tcTh & 15;
    if (counts.length < 16 || p + 17 + total > body.length || tc > 1 || th > 3 || total > 256)
      throw new JpegStructureError(`Huffman table segment at byte ${at} is malformed`);
    (tc === 0 ? tables.dc : tables.ac)[th] = huffman(counts, body.slice(p + 17, p + 17 + total));
    p += 17 + total;
  }
}

/**
 * T.81 K.3, which libjpeg uses when a file defines no Huffman tables (Motion-JPEG
 * frames from webcams): luminance for table 0, chrominance for the others.
 */
const STANDARD_TABLES = (() => {
  const symbols = (hex: string) => Uint8Array.from(Buffer.from(hex, "hex"));
  const dc = symbols("000102030405060708090a0b");
  return {
    dc: [
      huffman([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], dc),
      huffman([0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dc),
    ],
    ac: [
      huffman(
        [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
        symbols(
          "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a" +
            "3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a929394" +
            "95969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8" +
            "e9eaf1f2f3f4f5f6f7f8f9fa",
        ),
      ),
      huffman(
        [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
        symbols(
          "000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f11718191a262728" +
            "292a35363738393a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788898a92" +
            "939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7" +
            "e8e9eaf2f3f4f5f6f7f8f9fa",
        ),
      ),
    ],
  };
})();

/**
 * Reads bits MSB first from one scan's entropy-coded data, unstuffing 0xFF00. Bits are
 * fetched ahead into `acc`; where the data ends (or a marker starts) zeros are fetched
 * instead and counted in `pad`, so taking any of them means the data ran out.
 */
class BitReader {
  private pos = 0;
  private acc = 0;
  /** Bits in acc not yet taken, the last `pad` of them past the end of the data. */
  private count = 0;
  private pad = 0;
  private atMarker = false;

  constructor(private readonly data: Uint8Array) {}

  bit(): number {
    return this.bits(1);
  }

  /** The next n (0..16) bits as an unsigned number. */
  bits(n: number): number {
    if (n === 0) return 0;
    if (this.count < n) this.fill();
    const v = (this.acc >>> (this.count - n)) & ((1 << n) - 1);
    this.take(n);
    return v;
  }

  decode(t: Huffman): number {
    if (this.count < 16) this.fill();
    const entry = t.fast[(this.acc >>> (this.count - FAST_BITS)) & FAST_MASK]!;
    if (entry > 0) {
      this.take(entry >> 8);
      return entry & 0xff;
    }
    // Longer than FAST_BITS: T.81 F.2.2.3, one more bit at a time.
    const peek = (this.acc >>> (this.count - 16)) & 0xffff;
    for (let len = FAST_BITS + 1; len <= 16; len++) {
      const code = peek >>> (16 - len);
      if (code <= t.maxCode[len]!) {
        this.take(len);
        const symbol = t.symbols[t.valPtr[len]! + code - t.minCode[len]!];
        if (symbol === undefined) break;
        return symbol;
      }
    }
    if (this.count - this.pad < 16) throw new DataEnd("");
    throw new JpegStructureError("a Huffman code in the scan data matches no table entry");
  }

  /** The end of a restart interval: what is left of its data is padding, then a restart marker must follow. */
  restart(n: number): void {
    const d = this.data;
    let p = this.pos;
    while (p + 1 < d.length && !(d[p] === 0xff && d[p + 1] !== 0x00)) p++; // libjpeg skips extraneous bytes too
    if (p + 1 >= d.length) throw new DataEnd(`it ends where restart marker RST${n} belongs`);
    if (d[p + 1]! < 0xd0 || d[p + 1]! > 0xd7)
      throw new JpegStructureError(`expected restart marker RST${n} inside the scan data`);
    this.pos = p + 2;
    this.acc = 0;
    this.count = 0;
    this.pad = 0;
    this.atMarker = false;
  }

  private take(n: number): void {
    this.count -= n;
    if (this.count < this.pad) throw new DataEnd("");
  }

  /** Tops acc up to at least 25 bits (it holds at most 32). */
  private fill(): void {
    const d = this.data;
    while (this.count <= 24) {
      let b = 0;
      if (this.atMarker || this.pos >= d.length) this.pad += 8;
      else {
        b = d[this.pos]!;
        if (b !== 0xff) this.pos++;
        else if (d[this.pos + 1] === 0x00) this.pos += 2;
        else {
          b = 0; // a restart marker: this interval's data ends here
          this.atMarker = true;
          this.pad += 8;
        }
      }
      this.acc = ((this.acc << 8) | b) >>> 0;
      this.count += 8;
    }
  }
}

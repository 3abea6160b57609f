/**
 * IEEE 754 binary16 ("half") conversion, the one place edgefuse turns float32 into
 * half and back. Float32 → half rounds to nearest, ties to even, subnormals included
 * (2^-24 is the smallest, 0x0001); ±0 keep their sign. Values that leave half's finite
 * range (|x| ≥ 65520, which rounds to infinity), ±inf and NaN all come out with the
 * exponent bits full (≥ 0x7C00 after the sign is removed): callers test for that
 * with isHalfFinite and decide what to do.
 */

/** Bits of the float32 65536: the first magnitude whose half exponent cannot exist. */
const HALF_RANGE_END_BITS = (127 + 16) << 23;
/** Bits of the float32 2^-14, half's smallest normal: below it the result is subnormal. */
const HALF_NORMAL_MIN_BITS = (127 - 14) << 23;
/** Moves a float32 exponent to half's bias (15 instead of 127), in place in the bits. */
const REBIAS = (15 - 127) << 23;
export const HALF_INFINITY = 0x7c00;
export const HALF_MAX = 65504;

/** Half bits of the float32 with bits `u`, as int32 or uint32 (see the file comment for non-finite values). */
export function halfFromFloatBits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const magnitude = u & 0x7fffffff;
  if (magnitude >= HALF_RANGE_END_BITS) return sign | HALF_INFINITY | (magnitude > 0x7f800000 ? 0x200 : 0);
  if (magnitude < HALF_NORMAL_MIN_BITS) return sign | subnormalHalf(magnitude);
  // Keep the top 10 mantissa bits; adding 0xfff plus the kept part's lowest bit rounds
  // the 13 dropped bits to nearest, ties to even, and a carry moves into the exponent
  // (up to HALF_INFINITY for 65520 and above) as it should.
  return sign | ((magnitude + REBIAS + 0xfff + ((magnitude >>> 13) & 1)) >>> 13);
}

/** The value in units of 2^-24, rounded to nearest even: a half subnormal (or 0x400, the smallest normal). */
function subnormalHalf(magnitude: number): number {
  const exponent = magnitude >>> 23;
  if (exponent === 0) return 0; // float32 subnormals are far below 2^-25
  const mantissa = (magnitude & 0x7fffff) | 0x800000; // value = mantissa · 2^(exponent − 150)
  const shift = 126 - exponent; // ≥ 14 here
  if (shift > 24) return 0; // below 2^-25: rounds to 0
  const kept = mantissa >>> shift;
  const dropped = mantissa & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  return kept + (dropped > halfway || (dropped === halfway && (kept & 1) === 1) ? 1 : 0);
}

/** Is a half (any sign) finite? */
export const isHalfFinite = (h: number): boolean => (h & HALF_INFINITY) !== HALF_INFINITY;

let table: Float32Array | undefined;

/** Every half's float32 value, indexed by its bits: 256 KB, built at first use. */
export function halfToFloatTable(): Float32Array {
  if (table) return table;
  table = new Float32Array(0x10000);
  for (let h = 0; h < 0x10000; h++) {
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    const magnitude =
      exponent === 0
        ? mantissa * 2 ** -24
        : exponent === 0x1f
          ? mantissa === 0
            ? Infinity
            : Number.NaN
          : (1024 + mantissa) * 2 ** (exponent - 25);
    table[h] = h & 0x8000 ? -magnitude : magnitude;
  }
  return table;
}

const scratchFloat = new Float32Array(1);
const scratchBits = new Int32Array(scratchFloat.buffer);

/** Half bits of a number (first rounded to float32, as every tensor value already is). */
export function halfBits(x: number): number {
  scratchFloat[0] = x;
  return halfFromFloatBits(scratchBits[0]!);
}

/**
 * Half bits of the smallest half ≥ x, for x ≥ 0 (HALF_INFINITY when none is finite).
 * A q8 scale rounds up so that no value of its block needs more than ±127.
 */
export function halfBitsAtLeast(x: number): number {
  let h = halfBits(x);
  const values = halfToFloatTable();
  while (isHalfFinite(h) && values[h]! < x) h++;
  return h;
}

import { describe, expect, it } from "vitest";
import { WireError } from "../core/errors.js";
import { encodedBytes } from "../core/dtypes.js";
import { decodeInto, encodeTensor } from "./codecs.js";
import { halfBits, halfToFloatTable } from "./half.js";

/** A seeded generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Every finite half's value from its definition, not from the code under test. */
function halfValueByDefinition(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 31;
  const mantissa = h & 1023;
  if (exponent === 31) return mantissa ? Number.NaN : sign * Infinity;
  return exponent === 0 ? sign * mantissa * 2 ** -24 : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** The 31744 non-negative finite halves in increasing order: their bits are their order. */
const POSITIVE_HALVES = Array.from({ length: 0x7c00 }, (_, h) => halfValueByDefinition(h));

/** Reference float → half: the nearest half by binary search, ties to the even bit pattern. */
function referenceHalf(x: number): number | "overflow" {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return "overflow"; // halfway to the next power of two past 65504
  let lo = 0;
  let hi = POSITIVE_HALVES.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (POSITIVE_HALVES[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const below = a - POSITIVE_HALVES[lo]!;
  const above = POSITIVE_HALVES[hi]! - a;
  const h = below < above ? lo : above < below ? hi : lo % 2 === 0 ? lo : hi;
  return sign | h;
}

const f16 = (values: number[]) => {
  const bytes = encodeTensor("float16", Float32Array.from(values), "t");
  return Array.from(new Uint16Array(bytes.buffer, bytes.byteOffset, values.length));
};

function roundTrip(dtype: "float16" | "q8" | "uint8", values: Float32Array): Float32Array {
  const bytes = encodeTensor(dtype, values, "t");
  expect(bytes.byteLength).toBe(encodedBytes(dtype, values.length));
  const out = new Float32Array(values.length);
  decodeInto(dtype, bytes, values.length, { target: out }, "t");
  return out;
}

function refusal(work: () => unknown): WireError {
  try {
    work();
  } catch (err) {
    expect(err).toBeInstanceOf(WireError);
    return err as WireError;
  }
  throw new Error("not refused");
}

describe("float16", () => {
  it("has the known bit patterns", () => {
    expect(f16([1, -2, 65504, -65504, 2 ** -14, 2 ** -24, 0.1, 1 / 3])).toEqual([
      0x3c00, 0xc000, 0x7bff, 0xfbff, 0x0400, 0x0001, 0x2e66, 0x3555,
    ]);
  });

  it("decodes every half as its definition says, bit for bit", () => {
    const table = halfToFloatTable();
    const wrong: string[] = [];
    for (let h = 0; h < 0x10000; h++)
      if (!Object.is(table[h], Math.fround(halfValueByDefinition(h)))) wrong.push(`0x${h.toString(16)} → ${table[h]}`);
    expect(wrong).toEqual([]);
  });

  it("agrees with a reference conversion on random values, every midpoint and its neighbours", () => {
    const next = random(11);
    const values: number[] = [];
    for (let i = 0; i < 20000; i++) values.push(Math.fround((next() - 0.5) * 2 ** (next() * 40 - 28)));
    for (let h = 0; h + 1 < POSITIVE_HALVES.length; h++) {
      const mid = Math.fround((POSITIVE_HALVES[h]! + POSITIVE_HALVES[h + 1]!) / 2);
      // The midpoint is exact in float32 (a half has 11 significant bits); one float32 ulp either side.
      const ulp = Math.max(2 ** -149, Math.abs(mid) * 2 ** -23);
      values.push(mid, Math.fround(mid - ulp), Math.fround(mid + ulp), -mid);
    }
    const wrong = values
      .filter((v) => halfBits(v) !== referenceHalf(v))
      .map((v) => `${v} → 0x${halfBits(v).toString(16)}`);
    expect(values.length).toBeGreaterThan(100000);
    expect(wrong).toEqual([]);
  });

  it("round-trips random values within half-precision rounding (half an ulp)", () => {
    const next = random(3);
    const values = Float32Array.from({ length: 10000 }, () => (next() - 0.5) * 2 ** (next() * 30 - 14));
    const back = roundTrip("float16", values);
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(values[i]!);
      // Normal halves have 11 significant bits; below 2^-14 the spacing is 2^-24.
      const ulp = a < 2 ** -14 ? 2 ** -24 : 2 ** (Math.floor(Math.log2(a)) - 10);
      expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(ulp / 2);
    }
  });

  it("keeps subnormals, ±0 and the largest finite half, and ties go to even", () => {
    const values = [0, -0, 2 ** -24, 3 * 2 ** -24, -1023 * 2 ** -24, 65504, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11];
    const back = Array.from(roundTrip("float16", Float32Array.from(values)));
    expect(back.map((v) => (Object.is(v, -0) ? "-0" : v))).toEqual([
      0,
      "-0",
      2 ** -24,
      3 * 2 ** -24,
      -1023 * 2 ** -24,
      65504,
      0, // 2^-25 is halfway between 0 and 2^-24: the even one is 0
      2 * 2 ** -24, // 1.5 · 2^-24 ties to 2 · 2^-24
      1, // halfway between 1 and 1 + 2^-10: the even mantissa is 1's
    ]);
    // Values below 65520 round to 65504; 65520 would round to infinity.
    expect(f16([65519.99])).toEqual([0x7bff]);
  });

  it.each([
    ["overflow", 65520, /t: element 2 is 65520: float16 holds finite values up to ±65504/],
    ["-overflow", -1e6, /element 2 is -1000000/],
    ["inf", Infinity, /element 2 is Infinity/],
    ["NaN", Number.NaN, /element 2 is NaN/],
  ])("refuses %s, naming the tensor and the element", (_, bad, message) => {
    const error = refusal(() => encodeTensor("float16", Float32Array.from([1, 2, bad, 4]), "t"));
    expect(error.topic).toBe("t");
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/send this tensor as float32/);
  });
});

/** The scale of each q8 block, read from the encoding. */
function q8Scales(bytes: Uint8Array): number[] {
  const table = halfToFloatTable();
  const scales: number[] = [];
  for (let o = 0; o < bytes.byteLength; o += 34) scales.push(table[bytes[o]! | (bytes[o + 1]! << 8)]!);
  return scales;
}

describe("q8", () => {
  it("keeps every element within scale / 2 of its block, the scale at least max|x| / 127", () => {
    const next = random(5);
    // Blocks of very different magnitudes, subnormal-scale ones included, and a partial last block.
    const values = Float32Array.from({ length: 32 * 40 + 13 }, (_, i) => {
      const magnitude = 2 ** (Math.floor(i / 32) - 30);
      return (next() - 0.5) * magnitude;
    });
    const bytes = encodeTensor("q8", values, "t");
    expect(bytes.byteLength).toBe(40 * 34 + 2 + 13);
    const scales = q8Scales(bytes);
    const back = roundTrip("q8", values);
    for (let i = 0; i < values.length; i++) {
      const block = Math.floor(i / 32);
      const scale = scales[block]!;
      const maxAbs = Math.max(...Array.from(values.subarray(block * 32, block * 32 + 32), Math.abs));
      expect(scale).toBeGreaterThanOrEqual(maxAbs / 127);
      expect(Math.abs(back[i]! - values[i]!), `element ${i}`).toBeLessThanOrEqual((scale / 2) * (1 + 1e-12));
    }
  });

  it("stores Q80's layout: scale max|x| / 127 as a half, then round(x / scale) as int8", () => {
    const values = Float32Array.from({ length: 32 }, (_, i) => (i - 16) / 4); // max |x| = 4
    const bytes = encodeTensor("q8", values, "t");
    const scaleBits = bytes[0]! | (bytes[1]! << 8);
    const scale = halfToFloatTable()[scaleBits]!;
    // The smallest half at or above 4 / 127: the half below it is too small.
    expect(scale).toBeGreaterThanOrEqual(4 / 127);
    expect(halfToFloatTable()[scaleBits - 1]).toBeLessThan(4 / 127);
    const q = new Int8Array(bytes.buffer, bytes.byteOffset + 2, 32);
    expect(q[0]).toBe(-127); // −4
    expect(Array.from(q)).toEqual(Array.from(values, (v) => Math.round(v / scale)));
  });

  it("encodes an all-zero block as scale 0 and decodes it to zeros", () => {
    const values = new Float32Array(64);
    values.fill(127 / 64, 32); // a zero block, then one whose scale (1/64) is exact
    const bytes = encodeTensor("q8", values, "t");
    expect(q8Scales(bytes)[0]).toBe(0);
    expect(Array.from(bytes.subarray(0, 34)).every((b) => b === 0)).toBe(true);
    expect(Array.from(roundTrip("q8", values))).toEqual(Array.from(values));
  });

  it("carries a last partial block as its scale and its values only", () => {
    for (const n of [1, 31, 33, 95]) {
      const values = Float32Array.from({ length: n }, (_, i) => Math.sin(i + 1) * 10);
      expect(encodedBytes("q8", n)).toBe(Math.floor(n / 32) * 34 + (n % 32 ? 2 + (n % 32) : 0));
      const back = roundTrip("q8", values);
      const scales = q8Scales(encodeTensor("q8", values, "t"));
      for (let i = 0; i < n; i++)
        expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(scales[Math.floor(i / 32)]! / 2);
    }
  });

  it.each([
    ["NaN", Number.NaN, /t: element 33 is NaN: q8 holds finite values/],
    ["inf", -Infinity, /element 33 is -Infinity/],
    ["a value too large for a half scale", 1e7, /element 33 is 10000000: q8 holds \|x\| up to 127 × 65504/],
  ])("refuses %s", (_, bad, message) => {
    const values = new Float32Array(40).fill(1);
    values[33] = bad;
    expect(refusal(() => encodeTensor("q8", values, "t")).message).toMatch(message);
  });

  it("refuses a damaged scale when decoding", () => {
    const bytes = encodeTensor("q8", new Float32Array(64).fill(1), "t");
    bytes[34] = 0x00;
    bytes[35] = 0x7c; // infinity
    const error = refusal(() => decodeInto("q8", bytes, 64, { target: new Float32Array(64) }, "t"));
    expect(error.message).toBe("t: q8 block 1 has scale Infinity");
  });
});

describe("uint8", () => {
  it("decodes k to k / 255 as darknet does and round-trips such pixels exactly", () => {
    const pixels = Float32Array.from({ length: 256 }, (_, k) => k / 255);
    const bytes = encodeTensor("uint8", pixels, "t");
    expect(Array.from(bytes)).toEqual(Array.from({ length: 256 }, (_, k) => k));
    expect(roundTrip("uint8", pixels)).toEqual(pixels);
  });

  it("rounds other values to the nearest 1/255 and refuses what is outside [0, 1]", () => {
    expect(Array.from(encodeTensor("uint8", Float32Array.from([0.5, 0.001, 0.999]), "t"))).toEqual([128, 0, 255]);
    expect(refusal(() => encodeTensor("uint8", Float32Array.from([0, 1.01]), "t")).message).toMatch(
      /element 1 is 1.0099999904632568: uint8 holds image data in \[0, 1\]/,
    );
    expect(refusal(() => encodeTensor("uint8", Float32Array.from([-0.1]), "t")).message).toMatch(/element 0/);
  });
});

describe("decoding into place", () => {
  it.each(["float32", "float16", "q8", "uint8"] as const)("%s: decodes any run of elements at any offset", (dtype) => {
    const values = Float32Array.from({ length: 100 }, (_, i) => (i % 17) / 16);
    const bytes = encodeTensor(dtype, values, "t");
    const whole = new Float32Array(100);
    decodeInto(dtype, bytes, 100, { target: whole }, "t");
    // Elements [30, 75) — starting and ending inside q8 blocks — land at 5 of a target that keeps the rest.
    const target = new Float32Array(60).fill(-1);
    decodeInto(dtype, bytes, 100, { target, at: 5, first: 30, count: 45 }, "t");
    expect(Array.from(target.subarray(5, 50))).toEqual(Array.from(whole.subarray(30, 75)));
    expect(Array.from(target.subarray(0, 5))).toEqual([-1, -1, -1, -1, -1]);
    expect(Array.from(target.subarray(50))).toEqual(Array(10).fill(-1));
  });

  it("decodes float16 from an odd address too", () => {
    const bytes = encodeTensor("float16", Float32Array.from([1.5, -2.25, 1e-5]), "t");
    const shifted = new Uint8Array(bytes.byteLength + 1);
    shifted.set(bytes, 1);
    const target = new Float32Array(3);
    decodeInto("float16", shifted.subarray(1), 3, { target }, "t");
    expect(Array.from(target)).toEqual([1.5, -2.25, halfToFloatTable()[halfBits(1e-5)]]);
  });

  it("refuses a payload of the wrong size and a run that does not fit", () => {
    const bytes = encodeTensor("q8", new Float32Array(40), "t");
    expect(refusal(() => decodeInto("q8", bytes.subarray(1), 40, { target: new Float32Array(40) }, "t")).message).toBe(
      "t: 40 × q8 = 44 bytes, payload is 43",
    );
    expect(() => decodeInto("q8", bytes, 40, { target: new Float32Array(10) }, "t")).toThrow(RangeError);
    expect(() => decodeInto("q8", bytes, 40, { target: new Float32Array(40), first: 30, count: 20 }, "t")).toThrow(
      /elements \[30, 50\) of 40/,
    );
  });
});

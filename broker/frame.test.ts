import { describe, expect, it } from "vitest";
import { WireError } from "../core/errors.js";
import { DTYPES, type Dtype } from "../core/dtypes.js";
import {
  FRAME_HEADER_BYTES,
  decodeFrame,
  decodeFrameHeader,
  decodeFrameInto,
  encodeFrame,
  encodeFrameHeader,
  frameParts,
  framePartsOrFloat32,
  isFrame,
  type FrameMeta,
} from "./frame.js";

const meta: FrameMeta = { jobId: "req-7:job", layer: 13, part: 4, shape: [3, 5, 7] };
const data = Float32Array.from({ length: 105 }, (_, i) => i * 0.5 - 20);

/** A valid frame with one edit applied to a copy. */
function tampered(edit: (frame: Buffer) => Buffer | undefined): Buffer {
  const frame = Buffer.from(encodeFrame(meta, data));
  return edit(frame) ?? frame;
}

describe("tensor frames", () => {
  it("round-trips a tensor with all its metadata", () => {
    const frame = encodeFrame(meta, data);
    expect(frame.byteLength).toBe(FRAME_HEADER_BYTES + 105 * 4);
    const decoded = decodeFrame(frame, "t");
    expect(decoded).toEqual({ ...meta, dtype: "float32", data, computeMs: 0 });
  });

  it("carries the sender's compute time in whole microseconds", () => {
    const data = new Float32Array([1, 2]);
    const frame = decodeFrame(encodeFrame({ jobId: "j", layer: 3, part: 1, shape: [2], computeMs: 12.3456 }, data));
    expect(frame.computeMs).toBe(12.346);
  });

  it("exposes the data without copying, both ways", () => {
    const [header, body] = frameParts(meta, data);
    expect(header.byteLength).toBe(FRAME_HEADER_BYTES);
    expect(body.buffer).toBe(data.buffer); // a view, not a copy
    const frame = Buffer.concat([header, body]);
    expect(decodeFrame(frame).data.buffer).toBe(frame.buffer);
  });

  it("copies only when the data sits at an unaligned offset", () => {
    const frame = encodeFrame(meta, data);
    const shifted = Buffer.alloc(frame.byteLength + 1);
    frame.copy(shifted, 1);
    const decoded = decodeFrame(shifted.subarray(1));
    expect(decoded.data).toEqual(data);
    expect(decoded.data.buffer).not.toBe(shifted.buffer);
  });

  it("handles rank 1 and rank 8 and a 64-character job id", () => {
    for (const shape of [[1], [1, 2, 1, 2, 1, 2, 1, 2]]) {
      const m = { jobId: "j".repeat(64), layer: 0, part: 0, shape };
      const d = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1.5);
      expect(decodeFrame(encodeFrame(m, d))).toEqual({ ...m, dtype: "float32", data: d, computeMs: 0 });
    }
  });

  it("decodes a header alone, for data that went elsewhere (a placed message)", () => {
    const header = encodeFrameHeader({ ...meta, computeMs: 1.5 });
    expect(decodeFrameHeader(header, 105 * 4, "t")).toEqual({ ...meta, dtype: "float32", computeMs: 1.5 });
    expect(() => decodeFrameHeader(header, 104 * 4, "t")).toThrow(
      /^t: header says 420 payload bytes, frame carries 416$/,
    );
    expect(() => decodeFrameHeader(header.subarray(0, 64), 105 * 4, "t")).toThrow(/truncated frame: 64 bytes/);
  });

  it.each<[string, Buffer, RegExp]>([
    [
      "truncated header",
      tampered((f) => f.subarray(0, 100)),
      /^t: truncated frame: 100 bytes, the header alone is 128$/,
    ],
    ["wrong magic", tampered((f) => void f.write("PNG!", 0)), /bad magic "PNG!", expected "EFT1"/],
    ["unknown version", tampered((f) => void f.writeUInt16LE(2, 4)), /unsupported frame version 2/],
    ["unknown dtype", tampered((f) => void f.writeUInt8(9, 6)), /unknown dtype code 9/],
    ["dtype 0", tampered((f) => void f.writeUInt8(0, 6)), /unknown dtype code 0/],
    ["rank 0", tampered((f) => void f.writeUInt8(0, 7)), /rank 0 outside 1..8/],
    ["rank 9", tampered((f) => void f.writeUInt8(9, 7)), /rank 9 outside 1..8/],
    ["zero dimension", tampered((f) => void f.writeUInt32LE(0, 28)), /shape \[3, 0, 7\] has a zero dimension/],
    ["empty job id", tampered((f) => void f.writeUInt8(0, 56)), /jobId length 0/],
    ["bad job id", tampered((f) => void f.write("a/b", 64)), /invalid jobId "a\/b/],
    [
      "truncated data",
      tampered((f) => f.subarray(0, f.byteLength - 4)),
      /header says 420 payload bytes, frame carries 416/,
    ],
    [
      "trailing bytes",
      tampered((f) => Buffer.concat([f, Buffer.alloc(4)])),
      /header says 420 payload bytes, frame carries 424/,
    ],
    [
      "shape that disagrees with the payload",
      tampered((f) => void f.writeUInt32LE(6, 24)),
      /shape \[6, 5, 7\] × float32 = 840 bytes, payload is 420/,
    ],
  ])("refuses a frame with %s (WireError)", (_, frame, message) => {
    let error: unknown;
    try {
      decodeFrame(frame, "t");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(WireError);
    expect((error as WireError).topic).toBe("t");
    expect((error as WireError).message).toMatch(message);
  });

  it("refuses to encode data that does not fit its shape or bad metadata", () => {
    expect(() => frameParts(meta, new Float32Array(3))).toThrow(/shape \[3, 5, 7\] needs 105 elements, data has 3/);
    expect(() => encodeFrameHeader({ ...meta, shape: [] })).toThrow(/rank 0/);
    expect(() => encodeFrameHeader({ ...meta, shape: [2, 0] })).toThrow(/shape\[1\] = 0/);
    expect(() => encodeFrameHeader({ ...meta, jobId: "x/y" })).toThrow(/invalid jobId/);
    expect(() => encodeFrameHeader({ ...meta, layer: -1 })).toThrow(/invalid layer -1/);
  });
});

describe("tensor frames in other dtypes", () => {
  // 3·5·7 = 105 elements: three whole q8 blocks and one of 9.
  const sizes: Record<Dtype, number> = { float32: 420, float16: 210, q8: 3 * 34 + 2 + 9, uint8: 105 };
  const pixels = Float32Array.from({ length: 105 }, (_, i) => (i * 2) / 255);

  it.each(Object.entries(sizes) as [Dtype, number][])("%s: exact size, its code, float32 back", (dtype, bytes) => {
    const values = dtype === "uint8" ? pixels : data;
    const frame = encodeFrame({ ...meta, dtype }, values);
    expect(frame.byteLength).toBe(FRAME_HEADER_BYTES + bytes);
    expect(frame.readUInt8(6)).toBe(DTYPES[dtype].code);
    expect(frame.readBigUInt64LE(16)).toBe(BigInt(bytes));
    const decoded = decodeFrame(frame, "t");
    expect(decoded.dtype).toBe(dtype);
    expect(decoded.shape).toEqual(meta.shape);
    expect(decoded.data).toBeInstanceOf(Float32Array);
    expect(decoded.data.length).toBe(105);
    // Halves of integers up to 32 and k/255 pixels are exact but in q8, whose blocks' max |x| ≤ 32
    // give scales of at most 32/127 rounded up to a half (one half-ulp, 2^-10, above).
    const worst = Math.max(...decoded.data.map((v, i) => Math.abs(v - values[i]!)));
    expect(worst).toBeLessThanOrEqual(dtype === "q8" ? ((32 / 127) * (1 + 2 ** -10)) / 2 : 0);
  });

  it("decodes a frame of any dtype into a given array at an offset, in place", () => {
    for (const dtype of Object.keys(sizes) as Dtype[]) {
      const values = dtype === "uint8" ? pixels : data;
      const target = new Float32Array(110).fill(-7);
      const header = decodeFrameInto(encodeFrame({ ...meta, dtype }, values), target, 3, "t");
      expect(header).toEqual({ ...meta, dtype, computeMs: 0 });
      expect(target.subarray(3, 108)).toEqual(decodeFrame(encodeFrame({ ...meta, dtype }, values)).data);
      expect([...target.subarray(0, 3), ...target.subarray(108)]).toEqual([-7, -7, -7, -7, -7]);
    }
    expect(() => decodeFrameInto(encodeFrame(meta, data), new Float32Array(105), 1, "t")).toThrow(
      /^t: shape \[3, 5, 7\] = 105 elements do not fit at 1 of 105$/,
    );
  });

  it("refuses a q8 frame whose scales are missing or whose length does not match", () => {
    const frame = encodeFrame({ ...meta, dtype: "q8" }, data);
    const short = Buffer.from(frame.subarray(0, frame.byteLength - 11)); // the last block's scale and values gone
    short.writeBigUInt64LE(BigInt(short.byteLength - FRAME_HEADER_BYTES), 16);
    expect(() => decodeFrame(short, "t")).toThrow(/^t: shape \[3, 5, 7\] × q8 = 113 bytes, payload is 102$/);
    expect(() => decodeFrame(frame.subarray(0, frame.byteLength - 1), "t")).toThrow(
      /header says 113 payload bytes, frame carries 112/,
    );
    // A float32 frame relabelled as float16 has twice the bytes its shape needs.
    const relabelled = Buffer.from(encodeFrame(meta, data));
    relabelled.writeUInt8(DTYPES.float16.code, 6);
    expect(() => decodeFrame(relabelled, "t")).toThrow(/shape \[3, 5, 7\] × float16 = 210 bytes, payload is 420/);
  });

  it("refuses to send a value its dtype cannot carry, naming the frame", () => {
    const bad = Float32Array.from(data);
    bad[7] = Number.NaN;
    expect(() => frameParts({ ...meta, dtype: "float16" }, bad)).toThrow(
      /^frame req-7:job\/13\/4: element 7 is NaN: float16 holds finite values/,
    );
  });

  it("sends as float32 what the asked dtype cannot carry, and says so in the header", () => {
    const fits = framePartsOrFloat32({ ...meta, dtype: "float16" }, data);
    expect(fits.dtype).toBe("float16");
    expect(decodeFrame(Buffer.concat(fits.parts)).dtype).toBe("float16");
    const big = Float32Array.from(data);
    big[3] = 1e6; // beyond the largest half, 65504
    const sent = framePartsOrFloat32({ ...meta, dtype: "float16" }, big);
    expect(sent.dtype).toBe("float32");
    const back = decodeFrame(Buffer.concat(sent.parts));
    expect([back.dtype, back.data[3]]).toEqual(["float32", 1e6]);
    // A frame that does not fit its shape is refused whatever the dtype.
    expect(() => framePartsOrFloat32({ ...meta, dtype: "float16" }, data.subarray(1))).toThrow(/needs 105 elements/);
  });

  it("tells a frame from an encoded image by its magic", () => {
    expect(isFrame(encodeFrame(meta, data))).toBe(true);
    expect(isFrame(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]))).toBe(false); // a JPEG
    expect(isFrame(Buffer.from("EFT"))).toBe(false);
  });
});

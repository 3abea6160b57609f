import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { createCanvas } from "@napi-rs/canvas";
import { describe, expect, it } from "vitest";
import { InputError } from "../../core/errors.js";
import { imagePath } from "../../test/fixtures.js";
import { decodeImage, loadImage, sniffFormat } from "./decode.js";
import type { FloatImage } from "./image.js";
import { pngChunk } from "./test-support.js";

const dogBytes = readFileSync(imagePath("dog.jpg"));

/** Pixel (x, y) as bytes [r, g, b]. */
const px = (im: FloatImage, x: number, y: number) =>
  [0, 1, 2].map((k) => Math.round(im.data[k * im.w * im.h + y * im.w + x]! * 255));

/** A minimal PNG encoder (no filters), so tests control colour type, depth, palette and tRNS exactly. */
function makePng(opts: {
  w: number;
  h: number;
  colorType: number;
  depth: number;
  samples: number[];
  palette?: number[];
  trns?: number[];
}): Buffer {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[opts.colorType]!;
  const rowBits = opts.w * channels * opts.depth;
  const rowBytes = Math.ceil(rowBits / 8);
  const raw = Buffer.alloc(opts.h * (rowBytes + 1));
  for (let y = 0; y < opts.h; y++) {
    const row = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    for (let i = 0; i < opts.w * channels; i++) {
      const v = opts.samples[y * opts.w * channels + i]!;
      if (opts.depth === 16) row.writeUInt16BE(v, 2 * i);
      else if (opts.depth === 8) row[i] = v;
      else {
        const bit = i * opts.depth;
        row[bit >> 3]! |= v << (8 - opts.depth - (bit & 7));
      }
    }
  }
  const chunk = pngChunk;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(opts.w, 0);
  ihdr.writeUInt32BE(opts.h, 4);
  ihdr[8] = opts.depth;
  ihdr[9] = opts.colorType;
  const chunks = [chunk("IHDR", ihdr)];
  if (opts.palette) chunks.push(chunk("PLTE", Buffer.from(opts.palette)));
  if (opts.trns) {
    const t = Buffer.alloc(opts.colorType === 3 ? opts.trns.length : opts.trns.length * 2);
    for (const [i, v] of opts.trns.entries()) {
      if (opts.colorType === 3) t[i] = v;
      else t.writeUInt16BE(v, 2 * i);
    }
    chunks.push(chunk("tRNS", t));
  }
  chunks.push(chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks]);
}

function expectInputError(fn: () => unknown, source: string, pattern: RegExp): InputError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(InputError);
  const err = caught as InputError;
  expect(err.source).toBe(source);
  expect(err.message).toMatch(pattern);
  return err;
}

describe("decodeImage: JPEG", () => {
  it("decodes dog.jpg into planar 3×576×768 floats in 0..1", () => {
    const im = decodeImage(dogBytes, "dog.jpg");
    expect([im.c, im.h, im.w]).toEqual([3, 576, 768]);
    expect(im.data.length).toBe(3 * 576 * 768);
    let min = Infinity;
    let max = -Infinity;
    for (const v of im.data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThanOrEqual(1);
    expect(max - min).toBeGreaterThan(0.9); // a real photo, not a flat fill
  });

  it("keeps channels in R, G, B order and rows top to bottom", () => {
    // Left half red, right half blue, bottom quarter green, encoded at top quality.
    const canvas = createCanvas(64, 48);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "rgb(255,0,0)";
    ctx.fillRect(0, 0, 32, 36);
    ctx.fillStyle = "rgb(0,0,255)";
    ctx.fillRect(32, 0, 32, 36);
    ctx.fillStyle = "rgb(0,255,0)";
    ctx.fillRect(0, 36, 64, 12);
    const im = decodeImage(canvas.toBuffer("image/jpeg", 100), "synthetic.jpg");
    expect([im.w, im.h]).toEqual([64, 48]);
    const near = (got: number[], want: number[]) => {
      for (const [i, v] of got.entries()) expect(Math.abs(v - want[i]!)).toBeLessThan(12);
    };
    near(px(im, 8, 8), [255, 0, 0]);
    near(px(im, 56, 8), [0, 0, 255]);
    near(px(im, 32, 44), [0, 255, 0]);
  });

  it("ignores EXIF orientation, as stb_image (pjreddie darknet's default build) does", () => {
    // Debian's darknet is built with OpenCV, whose imread applies the orientation: dog.jpg
    // tagged 6 comes out 576×768 there (measured), so darknet's references are made only
    // from images whose tag turns nothing (test/oracle refuses the others), as dog.jpg's 1.
    const rotated = Buffer.from(dogBytes);
    const tag = rotated.indexOf(Buffer.from([0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01])); // Orientation, SHORT, count 1
    expect(tag).toBeGreaterThan(0);
    expect(dogBytes.readUInt16BE(tag + 8)).toBe(1); // "normal": darknet and the engine see the same pixels
    rotated[tag + 9] = 6; // "rotate 90° CW to display"
    const a = decodeImage(dogBytes);
    const b = decodeImage(rotated);
    expect([b.w, b.h]).toEqual([a.w, a.h]);
    let differing = 0;
    for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) differing++;
    expect(differing).toBe(0);
  });

  it("ignores bytes after the EOI marker", () => {
    const padded = Buffer.concat([dogBytes, Buffer.from("trailing junk")]);
    expect(decodeImage(padded).w).toBe(768);
  });

  it("chooses the decoder by magic bytes, not by file name", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgefuse-decode-"));
    const png = makePng({ w: 1, h: 1, colorType: 2, depth: 8, samples: [10, 20, 30] });
    writeFileSync(join(dir, "photo.jpg"), png);
    writeFileSync(join(dir, "photo.png"), dogBytes);
    expect(sniffFormat(png)).toBe("png");
    expect(px(loadImage(join(dir, "photo.jpg")), 0, 0)).toEqual([10, 20, 30]);
    expect(loadImage(join(dir, "photo.png")).w).toBe(768);
  });
});

describe("decodeImage: PNG, converted to RGB like stb_image with 3 channels", () => {
  it("RGB 8-bit: exact bytes / 255, planar", () => {
    const im = decodeImage(makePng({ w: 2, h: 1, colorType: 2, depth: 8, samples: [1, 2, 3, 250, 251, 252] }));
    expect(Array.from(im.data)).toEqual([1, 250, 2, 251, 3, 252].map((b) => Math.fround(b / 255)));
  });

  it("RGBA: alpha dropped without compositing", () => {
    const im = decodeImage(makePng({ w: 2, h: 1, colorType: 6, depth: 8, samples: [200, 100, 50, 0, 9, 8, 7, 128] }));
    expect(px(im, 0, 0)).toEqual([200, 100, 50]);
    expect(px(im, 1, 0)).toEqual([9, 8, 7]);
  });

  it("grey and grey+alpha: replicated into 3 channels", () => {
    expect(px(decodeImage(makePng({ w: 1, h: 1, colorType: 0, depth: 8, samples: [77] })), 0, 0)).toEqual([77, 77, 77]);
    expect(px(decodeImage(makePng({ w: 1, h: 1, colorType: 4, depth: 8, samples: [66, 0] })), 0, 0)).toEqual([
      66, 66, 66,
    ]);
  });

  it("grey 2-bit: scaled to 0, 85, 170, 255", () => {
    const im = decodeImage(makePng({ w: 4, h: 1, colorType: 0, depth: 2, samples: [0, 1, 2, 3] }));
    expect([0, 1, 2, 3].map((x) => px(im, x, 0)[0])).toEqual([0, 85, 170, 255]);
  });

  it("16-bit: keeps the high byte (stbi__convert_16_to_8)", () => {
    const im = decodeImage(makePng({ w: 1, h: 1, colorType: 2, depth: 16, samples: [0x12ff, 0x8000, 0xfffe] }));
    expect(px(im, 0, 0)).toEqual([0x12, 0x80, 0xff]);
  });

  it("palette with tRNS: palette colours, alpha dropped", () => {
    const im = decodeImage(
      makePng({
        w: 2,
        h: 1,
        colorType: 3,
        depth: 8,
        samples: [1, 0],
        palette: [10, 20, 30, 40, 50, 60],
        trns: [255, 0],
      }),
    );
    expect(px(im, 0, 0)).toEqual([40, 50, 60]);
    expect(px(im, 1, 0)).toEqual([10, 20, 30]);
  });

  it("RGB with a tRNS colour: that colour survives (stb clears only alpha)", () => {
    const im = decodeImage(
      makePng({ w: 2, h: 1, colorType: 2, depth: 8, samples: [5, 6, 7, 8, 9, 10], trns: [5, 6, 7] }),
    );
    expect(px(im, 0, 0)).toEqual([5, 6, 7]);
    expect(px(im, 1, 0)).toEqual([8, 9, 10]);
  });
});

describe("decodeImage: bad input is an InputError naming the source", () => {
  it("empty buffer", () => {
    expectInputError(
      () => decodeImage(Buffer.alloc(0), "infer/r1"),
      "infer/r1",
      /infer\/r1: not a JPEG or PNG: it is empty \(0 bytes\)/,
    );
  });

  it("bytes that are not an image, showing what they start with", () => {
    const err = expectInputError(
      () => decodeImage(Buffer.from("hello world, not an image"), "upload"),
      "upload",
      /not a JPEG or PNG/,
    );
    expect(err.message).toContain("68 65 6c 6c 6f 20 77 6f");
    expect(err.message).toContain('"hello wo"');
  });

  it("another image format is named", () => {
    expectInputError(
      () => decodeImage(Buffer.from("GIF89a\x01\x00\x01\x00", "latin1"), "cat.gif"),
      "cat.gif",
      /not a JPEG or PNG: .*looks like GIF/,
    );
  });

  it("truncated JPEG at any length", () => {
    for (const n of [3, 20, 1000, Math.floor(dogBytes.length / 2), dogBytes.length - 2]) {
      expectInputError(() => decodeImage(dogBytes.subarray(0, n), "dog.jpg"), "dog.jpg", /corrupt or truncated JPEG/);
    }
  });

  it("JPEG whose header is garbage", () => {
    const junk = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00]), Buffer.alloc(64, 0x42)]);
    expectInputError(
      () => decodeImage(junk, "junk.jpg"),
      "junk.jpg",
      /corrupt or truncated JPEG .*expected a marker at byte 8/,
    );
  });

  it("truncated or corrupted PNG", () => {
    const png = makePng({ w: 8, h: 8, colorType: 2, depth: 8, samples: Array.from({ length: 192 }, (_, i) => i) });
    expectInputError(
      () => decodeImage(png.subarray(0, png.length - 20), "cut.png"),
      "cut.png",
      /corrupt or truncated PNG/,
    );
    const bad = Buffer.from(png);
    bad[40] = bad[40]! ^ 0xff; // inside IDAT: its CRC no longer matches
    expectInputError(() => decodeImage(bad, "bad.png"), "bad.png", /corrupt or truncated PNG/);
  });

  it("oversized frame is refused before decoding", () => {
    const png = makePng({ w: 1, h: 1, colorType: 0, depth: 8, samples: [0] });
    png.writeUInt32BE(20_000, 16);
    png.writeUInt32BE(20_000, 20);
    expectInputError(() => decodeImage(png, "huge.png"), "huge.png", /20000×20000, over the 16384 px limit on a side/);
  });

  it("missing file", () => {
    expectInputError(
      () => loadImage("/nonexistent/edgefuse.jpg"),
      "/nonexistent/edgefuse.jpg",
      /cannot read image file/,
    );
  });
});

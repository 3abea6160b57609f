/**
 * Hostile images, built here byte by byte: headers that claim more than a camera frame,
 * deflate data that inflates past its header, JPEG scans that end early. Each must be
 * refused with one line naming the limit or the problem, before it is decoded; genuine
 * images of the same kinds (interlaced PNGs, progressive JPEGs, Motion-JPEG frames
 * without Huffman tables) must still decode exactly.
 */
import { ADAM7 } from "./png-header.js";
import { describe, expect, it } from "vitest";
import { InputError } from "../../core/errors.js";
import { imagePath } from "../../test/fixtures.js";
import { decodeImage } from "./decode.js";
import type { FloatImage } from "./image.js";
import { readJpegFrame } from "./jpeg-markers.js";
import { DEFAULT_DECODE_LIMITS } from "./limits.js";
import { claimingJpeg, cutWithEoi, interlacedBomb, markerAt, pngWith } from "./test-support.js";
import { readFileSync } from "node:fs";

const dogBytes = readFileSync(imagePath("dog.jpg"));

/** The decoded floats are bit for bit the same. */
const samePixels = (a: FloatImage, b: FloatImage) =>
  a.w === b.w && a.h === b.h && Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer));

function refusal(bytes: Uint8Array, limits = DEFAULT_DECODE_LIMITS): string {
  try {
    decodeImage(bytes, "cam", limits);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    const message = (err as Error).message;
    expect(message).not.toContain("\n");
    return message;
  }
  throw new Error("expected the image to be refused");
}

/** An 8-bit RGB image, pixel (x, y) = rgb(x, y), as rows of filter 0, Adam7-interlaced when asked. */
function rgbPng(w: number, h: number, rgb: (x: number, y: number) => number[], interlaced = false): Buffer {
  const rows: number[] = [];
  const passes: readonly (readonly [number, number, number, number])[] = interlaced ? ADAM7 : [[0, 1, 0, 1]];
  for (const [x0, dx, y0, dy] of passes) {
    if (x0 >= w) continue; // a pass without columns has no rows either
    for (let y = y0; y < h; y += dy) {
      rows.push(0);
      for (let x = x0; x < w; x += dx) rows.push(...rgb(x, y));
    }
  }
  return pngWith(w, h, { colorType: 2, depth: 8, interlaced }, Buffer.from(rows));
}

const tiny = Buffer.alloc(16); // deflates to a valid but tiny IDAT

describe("PNG: the header is checked before anything is inflated", () => {
  it("1 × 49,999,999 px (97 KB once, 4.7 GB in pngjs) is refused by the limit on a side", () => {
    const png = pngWith(1, 49_999_999, { colorType: 2, depth: 8 }, tiny);
    expect(refusal(png)).toBe("cam: PNG header says 1×49999999, over the 16384 px limit on a side");
  });

  it("60000 × 60000 is refused by the limit on a side", () => {
    const png = pngWith(60_000, 60_000, { colorType: 6, depth: 8 }, tiny);
    expect(refusal(png)).toBe("cam: PNG header says 60000×60000, over the 16384 px limit on a side");
  });

  it("8000 × 8000 is refused by the pixel limit", () => {
    const png = pngWith(8000, 8000, { colorType: 2, depth: 8 }, tiny);
    expect(refusal(png)).toBe("cam: PNG header says 8000×8000 = 64000000 px, over the 40000000 px (40 MP) limit");
  });

  it("a 16-bit RGBA image under the pixel limit is refused by the byte limit on its data", () => {
    // 7000 × 5000 × 8 bytes of samples, and a filter byte per row.
    const png = pngWith(7000, 5000, { colorType: 6, depth: 16 }, tiny);
    expect(refusal(png)).toBe(
      "cam: PNG header says 7000×5000: its inflated data would be 280005000 bytes, over the 268435456 byte decode limit",
    );
  });

  it("the limits are the caller's to choose", () => {
    const png = rgbPng(100, 60, () => [1, 2, 3]);
    expect(decodeImage(png, "cam").w).toBe(100);
    expect(refusal(png, { ...DEFAULT_DECODE_LIMITS, maxPixels: 5000 })).toBe(
      "cam: PNG header says 100×60 = 6000 px, over the 5000 px (0.005 MP) limit",
    );
    expect(refusal(png, { ...DEFAULT_DECODE_LIMITS, maxSide: 64 })).toBe(
      "cam: PNG header says 100×60, over the 64 px limit on a side",
    );
    expect(refusal(png, { ...DEFAULT_DECODE_LIMITS, maxBytes: 20_000 })).toBe(
      "cam: PNG header says 100×60: its RGBA samples would be 24000 bytes, over the 20000 byte decode limit",
    );
  });
});

describe("PNG: inflating is bounded by what the header allows", () => {
  it("an interlaced 64 × 64 whose data inflates to 8 MB is refused at its 16504 bytes", () => {
    // Adam7 passes of 64×64 RGBA: 8·(1+32) + 8·(1+32) + 8·(1+64) + 16·(1+64) + 16·(1+128)
    // + 32·(1+128) + 32·(1+256) = 16504 bytes; pngjs alone would inflate all 8 MB (or 4 GB).
    const bomb = interlacedBomb(8 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(16 * 1024);
    expect(refusal(bomb)).toBe(
      `cam: corrupt or truncated PNG (${bomb.length} bytes): image data inflates past the 16504 bytes its 64×64 header allows`,
    );
  });

  it("a plain one too, at its 64 · (1 + 256) bytes", () => {
    const bomb = pngWith(64, 64, { colorType: 6, depth: 8 }, Buffer.alloc(8 * 1024 * 1024));
    expect(refusal(bomb)).toBe(
      `cam: corrupt or truncated PNG (${bomb.length} bytes): image data inflates past the 16448 bytes its 64×64 header allows`,
    );
  });

  it("more chunks than any encoder writes are refused before they are inflated", () => {
    const png = rgbPng(8, 8, () => [1, 2, 3]);
    const iend = png.length - 12;
    const empty = Buffer.from([0, 0, 0, 0, 0x49, 0x44, 0x41, 0x54, 0x35, 0xaf, 0x06, 0x1e]); // IDAT, no data, its CRC
    const many = Buffer.concat([png.subarray(0, iend), ...Array(100_000).fill(empty), png.subarray(iend)]);
    expect(refusal(many)).toMatch(/: more than 100000 chunks, the limit of a PNG$/);
    expect(decodeImage(Buffer.concat([png.subarray(0, iend), empty, png.subarray(iend)]), "cam").w).toBe(8);
  });

  it.each([
    [13, 7],
    [3, 2],
    [1, 1],
    [64, 33],
  ])("a genuine interlaced %i × %i decodes to the same pixels as the plain one", (w, h) => {
    const rgb = (x: number, y: number) => [(x * 17) & 255, (y * 29) & 255, (x + y) & 255];
    const plain = decodeImage(rgbPng(w, h, rgb), "plain");
    const interlaced = decodeImage(rgbPng(w, h, rgb, true), "interlaced");
    expect([interlaced.w, interlaced.h]).toEqual([w, h]);
    expect(samePixels(interlaced, plain)).toBe(true);
    expect(plain.data[w * h - 1]).toBeCloseTo(rgb(w - 1, h - 1)[0]! / 255, 6);
  });
});

/**
 * 48×32, made by `jpegtran -progressive -restart 2B` (10 scans: DC first and refinement,
 * AC spectral bands, successive approximation; restart markers) from BASELINE below,
 * whose coefficients it keeps: both decode to the same pixels.
 */
const PROGRESSIVE = Buffer.from(
  "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAUDBAQEAwUEBAQFBQUGBwwIBwcHBw8LCwkMEQ8SEhEPERETFhwXExQaFRERGCEYGh0d" +
    "Hx8fExciJCIeJBweHx7/2wBDAQUFBQcGBw4ICA4eFBEUHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4e" +
    "Hh4eHh4eHh7/wgARCAAgADADASIAAhEBAxEB/8QAGAAAAwEBAAAAAAAAAAAAAAAAAQIFBgT/xAAaAQACAgMAAAAAAAAAAAAAAAAF" +
    "BgECAwQH/90ABAAC/9oADAMBAAIQAxAAAAGKpQb0AdR0FkD/0M/z6nKE8HahQY6//9GDfzKbc2IZVhH/AP/EABkQAAIDAQAAAAAA" +
    "AAAAAAAAAAIDAQQQAP/aAAgBAQABBQLP/9DhrNKP/9FqzXPf/9LP/9OnEE/v/9S2MEjv/9XP/9ZRysxsJKP/17lkSHv/0M//0c//" +
    "0s//xAAdEQABBAMBAQAAAAAAAAAAAAADAAIEBQESIRMx/9oACAEDAQE/ATlV/fFil8Q46v/Qh2WZgdnfcI5V/9G1rwzHbO5lNEyM" +
    "PRi//8QAHREAAgICAwEAAAAAAAAAAAAAAwQAAQIFERIhFP/aAAgBAgEBPwFcUbdyWy6YT//Q0rP2D5uvai4p/9E2oG3xeXlzWa4a" +
    "g+g5/8QAHxAAAgEDBQEAAAAAAAAAAAAAARARAAIhAxITQXGB/9oACAEBAAY/Al//0KmAPa//0YuC/9Jf/9PPWV//1Lp6yv/VX//W" +
    "Fwqd4Htf/9fj0/pX/9Bf/9Ff/9Jf/8QAHxABAQABAgcAAAAAAAAAAAAAAQBRESEQMUFhcYGR/9oACAEBAAE/IWb/0G+5Bf/R2C8d" +
    "5v/SZv/TMYNHD//UwGaPM3//1Wb/1uiVzM3rI7G//9dymow3/9Bm/9Fm/9Jm/9oADAMBAAIAAwAAABCJj//Q1D//0bW//8QAHREB" +
    "AAICAgMAAAAAAAAAAAAAAQAxESFBUXGxwf/aAAgBAwEBPxC6EwaCru6A9s//0Hg4bDivJLp//9Eg6OsnJ0/JxbvLa9s//8QAGhEB" +
    "AAMBAQEAAAAAAAAAAAAAAQARMVEhYf/aAAgBAgEBPxDCBBLq1Z//0HWolNZ2yYT/0bMIeWc+3CBearq9Z//EACAQAQEBAAAGAwEA" +
    "AAAAAAAAAAEAESExQVFxgRBh8LH/2gAIAQEAAT8Qc7//0FrhBslNDBfXT3f/0SSm83M8Gd//0nO//9PHIjg9UTP7vr4//9TPprr2" +
    "B+Pc7//Vc7//1uK9vwOpcYBmr4fvq//XZi3lYJ2J3//Qc7//0VO//9Jyv//Z",
  "base64",
);
/** 48×32 baseline, 4:2:0, with an ICC profile: a gradient and a disc drawn with @napi-rs/canvas. */
const BASELINE = Buffer.from(
  "/9j/4AAQSkZJRgABAQAAAQABAAD/4gHYSUNDX1BST0ZJTEUAAQEAAAHIAAAAAAQwAABtbnRyUkdCIFhZWiAH4AABAAEAAAAAAABh" +
    "Y3NwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAA9tYAAQAAAADTLQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" +
    "AAAAAAAAAAAAAAAAAAAAAAAAAAlkZXNjAAAA8AAAACRyWFlaAAABFAAAABRnWFlaAAABKAAAABRiWFlaAAABPAAAABR3dHB0AAAB" +
    "UAAAABRyVFJDAAABZAAAAChnVFJDAAABZAAAAChiVFJDAAABZAAAAChjcHJ0AAABjAAAADxtbHVjAAAAAAAAAAEAAAAMZW5VUwAA" +
    "AAgAAAAcAHMAUgBHAEJYWVogAAAAAAAAb6IAADj1AAADkFhZWiAAAAAAAABimQAAt4UAABjaWFlaIAAAAAAAACSgAAAPhAAAts9Y" +
    "WVogAAAAAAAA9tYAAQAAAADTLXBhcmEAAAAAAAQAAAACZmYAAPKnAAANWQAAE9AAAApbAAAAAAAAAABtbHVjAAAAAAAAAAEAAAAM" +
    "ZW5VUwAAACAAAAAcAEcAbwBvAGcAbABlACAASQBuAGMALgAgADIAMAAxADb/2wBDAAUDBAQEAwUEBAQFBQUGBwwIBwcHBw8LCwkM" +
    "EQ8SEhEPERETFhwXExQaFRERGCEYGh0dHx8fExciJCIeJBweHx7/2wBDAQUFBQcGBw4ICA4eFBEUHh4eHh4eHh4eHh4eHh4eHh4e" +
    "Hh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh7/wAARCAAgADADASIAAhEBAxEB/8QAGQAAAwEBAQAAAAAAAAAAAAAAAgMG" +
    "BwUE/8QAKxAAAQMDAgMHBQAAAAAAAAAAAQACAwQFEQYTEkGBFCEiIzFR8DJSYXGx/8QAGQEAAgMBAAAAAAAAAAAAAAAABgcCBAUI" +
    "/8QAJREAAQIGAgEFAQAAAAAAAAAAAQQRAAIDBQYxIVESE0FhcbHB/9oADAMBAAIRAxEAPwCMeUp5RPKS8oct6XUdAL1W4FxycBdW" +
    "l0zdamES7ccQIyBI7BPTl1RaNgiqb43dAIiYZGg8yCMf3PRX6ndr1VttQUaADs5JhA5/niq1KwjRyjyYEk870AP0xlF1t9ZbphHV" +
    "wlhP0n1Dv0Vz3lajq2miqbBVboGYmGRh9nAfB1WVPKY2FXM3hMZ5pWmlLFtduIoWbJZ7wjNSqGnlLFtfYjsvKS8onlJeUNW9LqHU" +
    "vVbj02uvkt1fFVx9/AfE37hzCvaTUVnqIdztkcJxkslPC4fPws0cUl5WqsxFNd/GaoTLMOHHXy8KXK8fR3ioKtUmWccOPcdH+RX6" +
    "z1NT1NI63295e1582TGAR7BRDyieUpxTDxjHU9pTignHGyTsnswP0ktC2J/Qoa252T2Y/9k=",
  "base64",
);

/** Byte offsets [start, end) of each scan's entropy-coded data. */
const scanData = (bytes: Buffer) =>
  readJpegFrame(bytes).segments.flatMap((s) =>
    s.kind === "sos"
      ? [[s.data.byteOffset - bytes.byteOffset, s.data.byteOffset - bytes.byteOffset + s.data.length]]
      : [],
  ) as [number, number][];

describe("JPEG: the frame is checked before decoding, and a scan that ends early is refused", () => {
  it("60000 × 60000 is refused by the limit on a side", () => {
    expect(refusal(claimingJpeg(60_000, 60_000))).toBe(
      "cam: JPEG header says 60000×60000, over the 16384 px limit on a side",
    );
  });

  it("7000 × 7000 (49 MP) is refused by the pixel limit", () => {
    expect(refusal(claimingJpeg(7000, 7000))).toBe(
      "cam: JPEG header says 7000×7000 = 49000000 px, over the 40000000 px (40 MP) limit",
    );
  });

  it("a few hundred bytes claiming 6000 × 6000 are refused as truncated, not decoded to grey", () => {
    const bomb = claimingJpeg(6000, 6000);
    expect(bomb.length).toBeLessThan(2000);
    expect(refusal(bomb)).toMatch(
      new RegExp(
        `^cam: corrupt or truncated JPEG \\(${bomb.length} bytes\\): truncated: scan 1 \\(at byte \\d+\\) has data for \\d+ of the \\d+ MCUs of its 6000×6000 frame`,
      ),
    );
    // With room for it the claim is still refused, by the scan check and not the size.
    expect(refusal(claimingJpeg(7000, 7000), { ...DEFAULT_DECODE_LIMITS, maxPixels: 50e6 })).toMatch(
      /truncated: scan 1 .* of its 7000×7000 frame/,
    );
  });

  it("dog.jpg cut anywhere in its scan, with its EOI marker put back, is refused as truncated", () => {
    const [[start, end]] = scanData(dogBytes) as [[number, number]];
    for (const n of [start, start + 1, start + 5000, Math.floor((start + end) / 2), end - 1]) {
      expect(refusal(cutWithEoi(dogBytes, n))).toMatch(
        /^cam: corrupt or truncated JPEG \(\d+ bytes\): truncated: scan 1 /,
      );
    }
    expect(decodeImage(dogBytes, "cam").w).toBe(768); // whole, it passes: 3456 MCUs, restart markers every 96
  });

  it("a progressive JPEG decodes to its baseline's pixels; cut at any byte of any scan, it is refused", () => {
    const progressive = decodeImage(PROGRESSIVE, "progressive");
    expect(samePixels(progressive, decodeImage(BASELINE, "baseline"))).toBe(true);
    const scans = scanData(PROGRESSIVE);
    expect(scans.length).toBe(10);
    for (const [start, end] of scans) {
      for (let n = start; n < end; n++) expect(refusal(cutWithEoi(PROGRESSIVE, n))).toMatch(/truncated: /);
    }
  });

  it("a frame without Huffman tables (Motion-JPEG) is read with the standard ones, as libjpeg does", () => {
    // dog.jpg's tables are T.81 K.3's: without its DHT segments it is the same image.
    let noTables = dogBytes;
    for (let i = 0; i < 4; i++) {
      const dht = markerAt(noTables, 0xc4);
      const end = dht + 2 + noTables.readUInt16BE(dht + 2);
      noTables = Buffer.concat([noTables.subarray(0, dht), noTables.subarray(end)]);
    }
    expect(() => markerAt(noTables, 0xc4)).toThrow();
    expect(samePixels(decodeImage(noTables, "mjpeg"), decodeImage(dogBytes, "dog"))).toBe(true);
    expect(refusal(cutWithEoi(noTables, noTables.length - 1000))).toMatch(/truncated: scan 1 /);
  });

  it("more scans or segments than any encoder writes are refused before any scan is read", () => {
    // PROGRESSIVE's last scan, 100 more times: each would be read over every block again.
    const last = readJpegFrame(PROGRESSIVE).segments.findLast((seg) => seg.kind === "sos")!.at;
    const eoi = PROGRESSIVE.length - 2;
    const scans = Buffer.concat([
      PROGRESSIVE.subarray(0, eoi),
      ...Array.from({ length: 100 }, () => PROGRESSIVE.subarray(last, eoi)),
      PROGRESSIVE.subarray(eoi),
    ]);
    expect(refusal(scans)).toMatch(/: more than 100 scans at byte \d+, the limit of a JPEG$/);
    const comment = Buffer.from([0xff, 0xfe, 0x00, 0x02]); // an empty COM segment, 4 bytes
    const comments = Buffer.concat([dogBytes.subarray(0, 2), ...Array(10_001).fill(comment), dogBytes.subarray(2)]);
    expect(refusal(comments)).toMatch(/: more than 10000 marker segments before byte 40002, the limit of a JPEG$/);
  });

  it("an arithmetic-coded frame, which darknet's stb_image cannot read, is refused", () => {
    const arithmetic = Buffer.from(dogBytes);
    arithmetic[markerAt(dogBytes, 0xc0) + 1] = 0xc9;
    expect(refusal(arithmetic)).toMatch(
      /frame type SOF9 at byte \d+ is not a Huffman baseline, extended or progressive/,
    );
  });
});

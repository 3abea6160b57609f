import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ShapeError } from "../../core/errors.js";
import { cfgPath, imagePath, ORACLES, readF32, readOracle } from "../../test/fixtures.js";
import { loadNetwork } from "../network.js";
import { loadImage } from "./decode.js";
import { imageFrom, makeImage } from "./image.js";
import { letterboxGeometry, letterboxImage, networkInput, resizeImage } from "./letterbox.js";

function compare(got: Float32Array, want: Float32Array) {
  expect(got.length).toBe(want.length);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / got.length, max };
}

describe("networkInput matches darknet's input.f32 for dog.jpg", () => {
  const dog = loadImage(imagePath("dog.jpg"));
  for (const name of ORACLES) {
    it(name, () => {
      const oracle = readOracle(name);
      const net = loadNetwork(cfgPath(oracle.cfg.replace(/\.cfg$/, "")));
      const want = readF32(join(oracle.dir, oracle.input_file));
      const letterboxed = compare(networkInput(dog, net.input, "letterbox"), want);
      const resized = compare(networkInput(dog, net.input, "resize"), want);
      console.log(
        `${name} ${net.input.w}×${net.input.h}: letterbox mean ${letterboxed.mean.toExponential(2)} max ${letterboxed.max.toFixed(4)}; resize mean ${resized.mean.toExponential(2)}`,
      );
      expect(letterboxed.mean).toBeLessThanOrEqual(0.01);
      // darknet decodes with stb_image (its default build) or, built with OpenCV as Debian's is,
      // with libjpeg, as the engine does: dog.jpg measured max 2.6/255 against the former
      // (pjreddie f6afaabc), 0 against the latter (every oracle). Either is within a few 1/255.
      expect(letterboxed.max).toBeLessThanOrEqual(4 / 255);
      // darknet letterboxed this input, the classifier fc-mini included: plain resize is far off.
      expect(resized.mean).toBeGreaterThan(0.05);
    });
  }
});

describe("letterboxGeometry (darknet's integer rules)", () => {
  it("landscape fits the width and centres vertically", () => {
    expect(letterboxGeometry(768, 576, 416, 416)).toEqual({ w: 416, h: 312, dx: 0, dy: 52 });
  });
  it("portrait fits the height and centres horizontally", () => {
    expect(letterboxGeometry(576, 768, 416, 416)).toEqual({ w: 312, h: 416, dx: 52, dy: 0 });
  });
  it("integer division truncates, odd margins put the extra pixel after", () => {
    // 773×512 → 96: new_h = 512·96/773 = 63.58 → 63, dy = (96−63)/2 = 16
    expect(letterboxGeometry(773, 512, 96, 96)).toEqual({ w: 96, h: 63, dx: 0, dy: 16 });
  });
  it("an image so thin it letterboxes to 0 px is refused, where darknet would see only grey", () => {
    expect(letterboxGeometry(1, 5000, 608, 608)).toMatchObject({ w: 0, h: 608 });
    const thin = makeImage(1, 5000, 3, 0.25);
    expect(() => letterboxImage(thin, 608, 608)).toThrow(
      new ShapeError("a 1×5000 image letterboxes to 0×608 in a 608×608 input: too thin to see"),
    );
    expect(letterboxImage(makeImage(1, 608, 3, 0.25), 608, 608).data.includes(0.25)).toBe(true); // 1 px wide still is
  });
});

describe("resizeImage (darknet's two-pass bilinear)", () => {
  it("aligns corners: 2 → 3 columns gives the midpoint between", () => {
    const im = imageFrom(new Float32Array([0, 1]), 2, 1, 1);
    expect(Array.from(resizeImage(im, 3, 1).data)).toEqual([0, 0.5, 1]);
  });

  it("2×2 → 3×3 interpolates both ways", () => {
    const [a, b, c, d] = [0, 1, 0.5, 0.25];
    const out = resizeImage(imageFrom(new Float32Array([a, b, c, d]), 2, 2, 1), 3, 3).data;
    const want = [a, (a + b) / 2, b, (a + c) / 2, (a + b + c + d) / 4, (b + d) / 2, c, (c + d) / 2, d];
    for (const [i, v] of want.entries()) expect(out[i]).toBeCloseTo(v, 6);
  });

  it("same size is the identity; channels are resized independently", () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i / 24);
    expect(resizeImage(imageFrom(data, 4, 3, 2), 4, 3).data).toEqual(data);
  });

  it("1-pixel outputs take the last column / first row as darknet does", () => {
    const im = imageFrom(new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), 3, 2, 1);
    expect(Array.from(resizeImage(im, 1, 1).data)).toEqual([Math.fround(0.3)]);
  });
});

describe("letterboxImage", () => {
  it("embeds the scaled image centred on a 0.5 canvas", () => {
    const im = imageFrom(
      Float32Array.from({ length: 4 * 2 }, (_, i) => i / 10),
      4,
      2,
      1,
    );
    const out = letterboxImage(im, 4, 4);
    const rows = [0, 1, 2, 3].map((y) => Array.from(out.data.subarray(y * 4, y * 4 + 4)));
    expect(rows[0]).toEqual([0.5, 0.5, 0.5, 0.5]);
    expect(rows[3]).toEqual([0.5, 0.5, 0.5, 0.5]);
    expect(rows[1]).toEqual(Array.from(im.data.subarray(0, 4)));
    expect(rows[2]).toEqual(Array.from(im.data.subarray(4, 8)));
  });

  it("refuses an image whose channels do not match the network", () => {
    const grey = imageFrom(new Float32Array(4), 2, 2, 1);
    expect(() => networkInput(grey, { c: 3, h: 8, w: 8 })).toThrow(ShapeError);
    expect(() => networkInput(grey, { c: 3, h: 8, w: 8 })).toThrow(/image has 1 channels, the network input takes 3/);
  });
});

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../core/errors.js";
import type { Detection } from "../detect/detection.js";
import { annotateImage, classColor, formatForPath, writeAnnotated } from "./annotate.js";
import { decodeImage } from "./decode.js";
import { type FloatImage, makeImage } from "./image.js";

const px = (im: FloatImage, x: number, y: number) =>
  [0, 1, 2].map((k) => Math.round(im.data[k * im.w * im.h + y * im.w + x]! * 255));

// A flat grey 200×160 image and one "dog" (COCO class 16 of 80).
const W = 200;
const H = 160;
const GREY = [128, 128, 128];
const grey = () => makeImage(W, H, 3, 128 / 255);
const dog: Detection = {
  classId: 16,
  className: "dog",
  probability: 0.87,
  box: { left: 20, top: 60, right: 120, bottom: 140 },
  normalized: { left: 0.1, top: 0.375, right: 0.6, bottom: 0.875 },
};
const YELLOW = [255, 255, 0];

describe("classColor (darknet get_color)", () => {
  it("gives darknet's colours", () => {
    // offset = 16·123457 % 80 = 32 → ratio 2 → colors[2] = {0,1,1} read as (b, g, r): yellow.
    expect(classColor(16, 80)).toEqual([1, 1, 0]);
    // class 0: offset 0 → colors[0] = {1,0,1}: magenta.
    expect(classColor(0, 80)).toEqual([1, 0, 1]);
    // VOC dog (11 of 20): offset 11·123457 % 20 = 7 → ratio 1.75, ¼ of colors[1] = {0,0,1}
    // and ¾ of colors[2] = {0,1,1}, read as (b, g, r): orange.
    const [r, g, b] = classColor(11, 20);
    expect([r, g!, b]).toEqual([1, expect.closeTo(0.75, 6), 0]);
  });
});

describe("annotateImage", () => {
  const png = annotateImage(grey(), [dog], "png", { classes: 80, lineWidth: 3, fontPx: 16 });
  const out = decodeImage(png, "annotated.png");

  it("writes a PNG the size of the original", () => {
    expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
    expect([out.w, out.h]).toEqual([W, H]);
  });

  it("draws the box edges in the class colour, lineWidth pixels inwards", () => {
    for (const [x, y] of [
      [20, 100], [22, 100], // left edge, 3 px wide
      [120, 100], [118, 100], // right edge
      [70, 140], [70, 138], // bottom edge
      [115, 60], [115, 62], // top edge, right of the label (which starts at x = 20)
    ]) {
      expect(px(out, x!, y!), `(${x}, ${y})`).toEqual(YELLOW);
    }
    expect(px(out, 23, 100)).toEqual(GREY); // just inside the line
    expect(px(out, 19, 100)).toEqual(GREY); // just outside
    expect(px(out, 115, 63)).toEqual(GREY); // just below the top edge
    expect(px(out, 70, 100)).toEqual(GREY); // box interior untouched
    expect(px(out, 180, 20)).toEqual(GREY); // far background untouched
  });

  it("puts the label above the box: class colour with dark text in it", () => {
    // darknet draw_label: bottom of the label at top + lineWidth, from the box's left edge.
    const labelH = 16 + 2 * 4;
    const top = 60 + 3 - labelH;
    let colour = 0;
    let dark = 0;
    let total = 0;
    for (let y = top; y < 60; y++) {
      for (let x = 20; x < 60; x++) {
        const [r, g, b] = px(out, x, y);
        total++;
        if (r === 255 && g === 255 && b === 0) colour++;
        if (r! + g! + b! < 150) dark++;
      }
    }
    expect(colour / total).toBeGreaterThan(0.5); // mostly the label background
    expect(dark).toBeGreaterThan(20); // and glyphs
    expect(px(out, 20, top - 1)).toEqual(GREY); // nothing above the label
  });

  it("labels a box at the top edge inside the box instead", () => {
    const atTop = { ...dog, box: { ...dog.box, top: 0 } };
    const im = decodeImage(annotateImage(grey(), [atTop], "png", { classes: 80, lineWidth: 2, fontPx: 16 }));
    let dark = 0;
    for (let y = 2; y < 24; y++) for (let x = 20; x < 60; x++) if (px(im, x, y).reduce((a, v) => a + v, 0) < 150) dark++;
    expect(dark).toBeGreaterThan(20);
  });

  it("leaves the input image unchanged", () => {
    const im = grey();
    annotateImage(im, [dog], "png", { classes: 80 });
    expect(im.data.every((v) => v === Math.fround(128 / 255))).toBe(true);
  });
});

describe("writeAnnotated", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgefuse-annotate-"));

  it("writes JPEG for .jpg, PNG for .png", () => {
    const jpg = join(dir, "out.jpg");
    writeAnnotated(jpg, grey(), [dog], { classes: 80, lineWidth: 6 });
    const bytes = readFileSync(jpg);
    expect([bytes[0], bytes[1]]).toEqual([0xff, 0xd8]);
    const im = decodeImage(bytes, jpg);
    // Lossy, so near the colour: the middle of a 6-px line.
    px(im, 23, 100).forEach((v, i) => expect(Math.abs(v - YELLOW[i]!)).toBeLessThan(24));
    writeAnnotated(join(dir, "out.PNG"), grey(), [], { classes: 80 });
    expect(px(decodeImage(readFileSync(join(dir, "out.PNG"))), 5, 5)).toEqual(GREY);
  });

  it("refuses other extensions", () => {
    expect(() => formatForPath("out.gif")).toThrow(UsageError);
    expect(() => formatForPath("out")).toThrow(/must end in \.png, \.jpg or \.jpeg, got '\(no extension\)'/);
  });
});

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../core/errors.js";
import { annotateImage, annotationLayout, type Drawn, formatForPath, labelText, writeAnnotated } from "./annotate.js";
import { decodeImage } from "./decode.js";
import { type FloatImage, makeImage } from "./image.js";
import { overlaps, type Rect } from "./label-layout.js";
import { classColor, type Rgb } from "./palette.js";

const px = (im: FloatImage, x: number, y: number) =>
  [0, 1, 2].map((k) => Math.round(im.data[k * im.w * im.h + y * im.w + x]! * 255));
const bytes = (rgb: Rgb) => rgb.map((v) => Math.round(v * 255));

// A flat grey 200×160 image and one "dog" (COCO class 16 of 80).
const W = 200;
const H = 160;
const GREY = [128, 128, 128];
const grey = () => makeImage(W, H, 3, 128 / 255);
const dog: Drawn = {
  classId: 16,
  className: "dog",
  probability: 0.87,
  box: { left: 20, top: 60, right: 120, bottom: 140 },
};
const YELLOW = [255, 255, 0];
const render = (detections: readonly Drawn[], options: Parameters<typeof annotateImage>[3]) =>
  decodeImage(annotateImage(grey(), detections, "png", options), "annotated.png");

/** How the pixels of `rect` split between the label's background, its text colour and anything else. */
function census(im: FloatImage, rect: Rect, background: Rgb, text: Rgb) {
  const [bg, fg] = [bytes(background), bytes(text)];
  const near = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]!) <= 8);
  const count = { background: 0, text: 0, total: 0 };
  for (let y = rect.y; y < rect.y + rect.h; y++) {
    for (let x = rect.x; x < rect.x + rect.w; x++) {
      const p = px(im, x, y);
      count.total++;
      if (near(p, bg)) count.background++;
      else if (near(p, fg)) count.text++;
    }
  }
  return count;
}

describe("labelText", () => {
  it("names the class and the probability in whole percent", () => {
    expect(labelText(dog)).toBe("dog 87%");
    expect(labelText({ ...dog, className: "traffic light", probability: 0.0549 })).toBe("traffic light 5%");
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
      [20, 100],
      [22, 100], // left edge, 3 px wide
      [120, 100],
      [118, 100], // right edge
      [70, 140],
      [70, 138], // bottom edge
      [115, 60],
      [115, 62], // top edge, right of the label (which starts at x = 20)
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
    const { labels } = annotationLayout(out, [dog], { classes: 80, lineWidth: 3, fontPx: 16 });
    // darknet draw_label: bottom of the label at top + lineWidth, from the box's left edge.
    const labelH = 16 + 2 * 4;
    expect(labels[0]!.rect).toMatchObject({ x: 20, y: 60 + 3 - labelH, h: labelH });
    const c = census(out, labels[0]!.rect, [1, 1, 0], [0, 0, 0]);
    expect(c.background / c.total).toBeGreaterThan(0.5); // mostly the label background
    expect(c.text).toBeGreaterThan(20); // and black glyphs
    expect(px(out, 20, labels[0]!.rect.y - 1)).toEqual(GREY); // nothing above the label
  });

  it("labels a box at the top edge inside the box instead", () => {
    const atTop = { ...dog, box: { ...dog.box, top: 0 } };
    const options = { classes: 80, lineWidth: 2, fontPx: 16 };
    const [label] = annotationLayout({ w: W, h: H }, [atTop], options).labels;
    expect(label!.rect).toMatchObject({ x: 20, y: 2 });
    expect(census(render([atTop], options), label!.rect, [1, 1, 0], [0, 0, 0]).text).toBeGreaterThan(20);
  });

  it("two boxes at the same corner: labels apart, each in its class colour with readable text", () => {
    // COCO 47 (apple) is nearly pure blue: white text; the dog's yellow gets black text.
    const apple: Drawn = {
      classId: 47,
      className: "apple",
      probability: 0.62,
      box: { ...dog.box, right: 90, bottom: 110 },
    };
    const options = { classes: 80, lineWidth: 3, fontPx: 16 };
    const layout = annotationLayout({ w: W, h: H }, [apple, dog], options);
    expect(layout.labels.map((l) => l.text)).toEqual(["dog 87%", "apple 62%"]);
    const [a, b] = layout.labels.map((l) => l.rect);
    expect(overlaps(a!, b!)).toBe(false);
    const im = render([apple, dog], options);
    for (const label of layout.labels) {
      expect(label.background).toEqual(classColor(label.detection.classId, 80));
      const c = census(im, label.rect, label.background, label.foreground);
      expect(c.background / c.total, label.text).toBeGreaterThan(0.5);
      expect(c.text, label.text).toBeGreaterThan(20);
    }
    expect(layout.labels.map((l) => l.foreground)).toEqual([
      [0, 0, 0],
      [1, 1, 1],
    ]);
  });

  it("leaves the input image unchanged", () => {
    const im = grey();
    annotateImage(im, [dog], "png", { classes: 80 });
    expect(im.data.every((v) => v === Math.fround(128 / 255))).toBe(true);
  });
});

describe("the synthetic-weights banner", () => {
  const options = { classes: 80, lineWidth: 3, fontPx: 16 };
  const bottomRows = (im: FloatImage) => {
    const count = { black: 0, white: 0, grey: 0 };
    for (let y = H - 24; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const s = px(im, x, y).reduce((a, v) => a + v, 0);
        if (s === 0) count.black++;
        else if (s > 700) count.white++;
        else if (s === 3 * 128) count.grey++;
      }
    }
    return count;
  };

  it("runs along the bottom, black with white text, only for synthetic weights", () => {
    const im = render([], { ...options, synthetic: true });
    // Its edges (the padding around the note) are black across the whole width …
    for (let x = 0; x < W; x++)
      for (const y of [H - 24, H - 1]) expect(px(im, x, y), `(${x}, ${y})`).toEqual([0, 0, 0]);
    const marked = bottomRows(im);
    expect(marked.black).toBeGreaterThan(W * 12);
    expect(marked.white).toBeGreaterThan(100); // … with the note's glyphs inside
    expect(px(im, 100, H - 25)).toEqual(GREY); // and the picture above it untouched
    expect(bottomRows(render([], options))).toEqual({ black: 0, white: 0, grey: W * 24 });
    expect(bottomRows(render([], { ...options, synthetic: false })).grey).toBe(W * 24);
  });

  it("keeps labels off it", () => {
    const low = { ...dog, box: { left: 10, top: 150, right: 80, bottom: 159 } };
    const layout = annotationLayout({ w: W, h: H }, [low], { ...options, synthetic: true });
    expect(layout.banner).toEqual({ x: 0, y: H - 24, w: W, h: 24 });
    expect(overlaps(layout.labels[0]!.rect, layout.banner!)).toBe(false);
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
    for (const [i, v] of px(im, 23, 100).entries()) expect(Math.abs(v - YELLOW[i]!)).toBeLessThan(24);
    writeAnnotated(join(dir, "out.PNG"), grey(), [], { classes: 80 });
    expect(px(decodeImage(readFileSync(join(dir, "out.PNG"))), 5, 5)).toEqual(GREY);
  });

  it("refuses other extensions", () => {
    expect(() => formatForPath("out.gif")).toThrow(UsageError);
    expect(() => formatForPath("out")).toThrow(/must end in \.png, \.jpg or \.jpeg, got '\(no extension\)'/);
  });
});

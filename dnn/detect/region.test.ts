import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ShapeError, UsageError } from "../../core/errors.js";
import { cfgPath, readF32, readOracle } from "../../test/fixtures.js";
import type { RegionLayer } from "../layers.js";
import { loadNetwork } from "../network.js";
import { DetectionsSchema } from "./detection.js";
import { classNames } from "./names.js";
import { boxIou, correctRegionBoxes, detectRegion, doNmsSort, regionDetections } from "./region.js";

const tiny = loadNetwork(cfgPath("yolov2-tiny"));
const layer = tiny.layers.at(-1) as RegionLayer; // 13×13, 5 anchors, 80 classes
const names = classNames(layer.classes);
const NET = { w: tiny.input.w, h: tiny.input.h };
const S = layer.output.w; // 13
const PLANE = S * S;
const PER = layer.coords + 1 + layer.classes;

/** A region OUTPUT (after darknet's activations) with nothing in it. */
const blank = () => new Float32Array(layer.num * PER * PLANE);

/** Put one prediction at cell (col, row), anchor n: box offsets, objectness and class probabilities. */
function predict(
  out: Float32Array,
  o: {
    col: number;
    row: number;
    n: number;
    x?: number;
    y?: number;
    tw?: number;
    th?: number;
    obj: number;
    classes: Record<number, number>;
  },
) {
  const at = (entry: number) => o.n * PER * PLANE + entry * PLANE + o.row * S + o.col;
  out[at(0)] = o.x ?? 0.5;
  out[at(1)] = o.y ?? 0.5;
  out[at(2)] = o.tw ?? 0;
  out[at(3)] = o.th ?? 0;
  out[at(4)] = o.obj;
  for (const [c, p] of Object.entries(o.classes)) out[at(5 + Number(c))] = p;
}

describe("detectRegion on hand-made region outputs", () => {
  // 832×624 is 4:3: letterboxed into 416×416 it becomes 416×312 with 52 px bands above and below.
  const IMAGE = { w: 832, h: 624 };

  it("one box: probability = objectness × class prob, box mapped back through the letterbox", () => {
    const out = blank();
    predict(out, { col: 6, row: 6, n: 4, obj: 0.9, classes: { 16: 0.8, 1: 0.2 } });
    const dets = detectRegion(layer, out, IMAGE, NET, names);
    expect(dets).toHaveLength(1); // class 1 has 0.9 × 0.2 = 0.18 < 0.24
    const [d] = dets;
    expect(d!.classId).toBe(16);
    expect(d!.className).toBe("dog");
    expect(d!.probability).toBeCloseTo(0.72, 6);
    // Centre of cell (6, 6) of 13 is the centre of the network input, hence of the image.
    // Size: anchor (9.77052, 9.16828) cells; the input's 416 px span the image's width
    // but only 312 of them its height, so the height fraction grows by 416/312.
    const wFrac = 9.77052 / 13;
    const hFrac = (9.16828 / 13) * (416 / 312);
    const n = d!.normalized;
    expect([n.left, n.top, n.right, n.bottom].map((v) => v.toFixed(6))).toEqual(
      [0.5 - wFrac / 2, 0.5 - hFrac / 2, 0.5 + wFrac / 2, 0.5 + hFrac / 2].map((v) => v.toFixed(6)),
    );
    expect(d!.box).toEqual({
      left: Math.trunc((0.5 - wFrac / 2) * 832),
      right: Math.trunc((0.5 + wFrac / 2) * 832),
      top: Math.trunc((0.5 - hFrac / 2) * 624),
      bottom: Math.trunc((0.5 + hFrac / 2) * 624),
    });
  });

  it("a box larger than the image is clamped to it, as draw_detections does", () => {
    const out = blank();
    predict(out, { col: 6, row: 6, n: 4, th: 0.5, tw: 0.5, obj: 0.9, classes: { 16: 0.8 } });
    const [d] = detectRegion(layer, out, IMAGE, NET, names);
    expect(d!.box).toEqual({ left: 0, top: 0, right: 831, bottom: 623 });
    expect(d!.normalized).toEqual({ left: 0, top: 0, right: 1, bottom: 1 });
  });

  it("a box partly outside the image is clipped at the edge it crosses, in pixels and normalized", () => {
    const out = blank();
    // Cell 0 of 13 at x offset 0.1: the centre is 0.1/13 of the width in, the big anchor
    // 9.77052/13 wide, so darknet's box starts ~37 % of the width left of the image.
    predict(out, { col: 0, row: 6, n: 4, x: 0.1, obj: 0.9, classes: { 16: 0.8 } });
    const [d] = detectRegion(layer, out, IMAGE, NET, names);
    const right = 0.1 / 13 + 9.77052 / 26;
    expect(d!.normalized.left).toBe(0);
    expect(d!.normalized.right).toBeCloseTo(right, 6);
    expect(d!.box.left).toBe(0);
    expect(d!.box.right).toBe(Math.trunc(right * IMAGE.w));
    const n = d!.normalized;
    expect([n.left, n.top, n.right, n.bottom].every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(DetectionsSchema.parse([d])).toEqual([d]);
  });

  it("x, y offsets move the box within its cell", () => {
    const out = blank();
    predict(out, { col: 0, row: 12, n: 0, x: 0.25, y: 0.75, obj: 0.99, classes: { 0: 1 } });
    const [d] = detectRegion(layer, out, { w: 416, h: 416 }, NET, names);
    // Centre (0.25/13, 12.75/13), anchor 0 (0.57273 × 0.677385 cells, exp(0) = 1): it
    // pokes out of the left and bottom edges, where it is clipped.
    const n = d!.normalized;
    expect(n.left).toBe(0);
    expect(n.right).toBeCloseTo(0.25 / 13 + 0.57273 / 26, 6);
    expect(n.top).toBeCloseTo(12.75 / 13 - 0.677385 / 26, 6);
    expect(n.bottom).toBe(1);
  });

  it("objectness at or below thresh keeps nothing, whatever the class says", () => {
    const out = blank();
    predict(out, { col: 3, row: 3, n: 1, obj: 0.24, classes: { 5: 1 } });
    expect(detectRegion(layer, out, IMAGE, NET, names)).toEqual([]);
    expect(detectRegion(layer, out, IMAGE, NET, names, { thresh: 0.2 })).toHaveLength(1);
  });

  it("NMS keeps the best of overlapping boxes of one class, and boxes of other classes", () => {
    const out = blank();
    predict(out, { col: 6, row: 6, n: 3, obj: 0.9, classes: { 16: 0.9 } }); // 0.81
    predict(out, { col: 7, row: 6, n: 3, x: 0.1, obj: 0.8, classes: { 16: 0.9, 7: 0.5 } }); // same place, 0.72 dog, 0.4 truck
    predict(out, { col: 0, row: 0, n: 0, obj: 0.7, classes: { 16: 0.9 } }); // far away, 0.63
    const dets = detectRegion(layer, out, IMAGE, NET, names);
    expect(dets.map((d) => [d.className, Number(d.probability.toFixed(2))])).toEqual([
      ["dog", 0.81],
      ["dog", 0.63],
      ["truck", 0.4],
    ]);
    // With NMS off (threshold 1), the overlapping dog comes back.
    expect(detectRegion(layer, out, IMAGE, NET, names, { nms: 1 })).toHaveLength(4);
  });

  it("fit 'resize' maps boxes straight onto the image", () => {
    const out = blank();
    predict(out, { col: 6, row: 6, n: 0, obj: 0.9, classes: { 2: 0.9 } });
    const [d] = detectRegion(layer, out, IMAGE, NET, names, { fit: "resize" });
    expect(d!.normalized.bottom - d!.normalized.top).toBeCloseTo(0.677385 / 13, 6); // no letterbox stretch
  });
});

describe("detectRegion on darknet's region outputs (oracles)", () => {
  for (const [name, thresh] of [
    ["yolov2-mini-s7-dog", 0.24],
    ["yolov2-tiny-s1-dog", 0.03],
  ] as const) {
    it(`${name}, thresh ${thresh}`, () => {
      const oracle = readOracle(name);
      const net = loadNetwork(cfgPath(oracle.cfg.replace(/\.cfg$/, "")));
      const region = net.layers.at(-1) as RegionLayer;
      const out = readF32(join(oracle.dir, oracle.layers.at(-1)!.file!));
      const image = { w: 768, h: 576 }; // dog.jpg
      const dets = detectRegion(region, out, image, net.input, classNames(region.classes), { thresh });
      expect(dets.length).toBeGreaterThan(0);
      expect(DetectionsSchema.parse(dets)).toEqual(dets);

      // Every probability is some cell's objectness × class prob from darknet's output.
      const per = region.coords + 1 + region.classes;
      const plane = region.output.w * region.output.h;
      const candidates = new Set<number>();
      for (let n = 0; n < region.num; n++) {
        for (let i = 0; i < plane; i++) {
          const obj = out[n * per * plane + 4 * plane + i]!;
          if (obj <= thresh) continue;
          for (let c = 0; c < region.classes; c++)
            candidates.add(Math.fround(obj * out[n * per * plane + (5 + c) * plane + i]!));
        }
      }
      expect(dets.filter((d) => !candidates.has(d.probability))).toEqual([]);
      expect(
        dets.filter((d) => !(d.probability > thresh) || d.box.right >= image.w || d.box.bottom >= image.h),
      ).toEqual([]);
      // The pixel box is the normalized one in pixels (truncated, the last pixel for an edge at 1).
      const px = (v: number, size: number) => Math.min(size - 1, Math.trunc(v * size));
      for (const { box, normalized: n } of dets) {
        expect(box).toEqual({
          left: px(n.left, image.w),
          top: px(n.top, image.h),
          right: px(n.right, image.w),
          bottom: px(n.bottom, image.h),
        });
      }
      // Sorted, and no two boxes NMS kept for one class overlap beyond its threshold
      // (measured on darknet's unclipped boxes, as NMS does).
      for (let i = 1; i < dets.length; i++) expect(dets[i]!.probability).toBeLessThanOrEqual(dets[i - 1]!.probability);
      const raw = regionDetections(region, out, thresh);
      correctRegionBoxes(raw, image, net.input, "letterbox");
      doNmsSort(raw, region.classes, 0.45);
      let worst = 0;
      let kept = 0;
      for (let k = 0; k < region.classes; k++) {
        const boxes = raw.filter((r) => r.prob[k]! > thresh).map((r) => r.bbox);
        kept += boxes.length;
        for (let i = 0; i < boxes.length; i++)
          for (let j = i + 1; j < boxes.length; j++) worst = Math.max(worst, boxIou(boxes[i]!, boxes[j]!));
      }
      expect(kept).toBe(dets.length);
      expect(worst).toBeLessThanOrEqual(0.45);
    });
  }
});

describe("detectRegion input checks", () => {
  it("output of the wrong size", () => {
    expect(() => detectRegion(layer, new Float32Array(10), { w: 1, h: 1 }, NET, names)).toThrow(ShapeError);
    expect(() => detectRegion(layer, new Float32Array(10), { w: 1, h: 1 }, NET, names)).toThrow(
      /10 floats, 5×\(4\+1\+80\)×13×13 = 71825 expected/,
    );
  });
  it("names that do not match the classes", () => {
    expect(() => detectRegion(layer, blank(), { w: 1, h: 1 }, NET, ["a"])).toThrow(/80 classes, 1 class names/);
  });
  it("thresholds out of range", () => {
    expect(() => detectRegion(layer, blank(), { w: 1, h: 1 }, NET, names, { thresh: 1.5 })).toThrow(UsageError);
    expect(() => detectRegion(layer, blank(), { w: 1, h: 1 }, NET, names, { nms: -1 })).toThrow(UsageError);
  });
});

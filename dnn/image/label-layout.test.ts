import { describe, expect, it } from "vitest";
import { mulberry32 } from "../synthetic.js";
import { type LabelRequest, layoutLabels, overlaps, type Rect } from "./label-layout.js";

const FRAME = { w: 400, h: 300 };
const LW = 2;
const request = (box: LabelRequest["box"], score: number, w = 60, h = 20): LabelRequest => ({ box, score, w, h });
const inside = (r: Rect, frame = FRAME) => r.x >= 0 && r.y >= 0 && r.x + r.w <= frame.w && r.y + r.h <= frame.h;

function expectApart(rects: readonly (Rect | undefined)[]): void {
  const placed = rects.filter((r): r is Rect => r !== undefined);
  for (let i = 0; i < placed.length; i++) {
    expect(inside(placed[i]!), `label ${i} ${JSON.stringify(placed[i])} inside the image`).toBe(true);
    for (let j = i + 1; j < placed.length; j++)
      expect(overlaps(placed[i]!, placed[j]!), `labels ${i} and ${j}`).toBe(false);
  }
}

describe("layoutLabels", () => {
  it("puts a label above its box, its bottom on the box's top line, as darknet does", () => {
    const [r] = layoutLabels([request({ left: 50, top: 100, right: 200, bottom: 250 }, 0.9)], FRAME, { lineWidth: LW });
    expect(r).toEqual({ x: 50, y: 100 + LW - 20, w: 60, h: 20 });
  });

  it("two boxes at the same corner: the more probable keeps the spot above, the other moves past it", () => {
    const box = { left: 50, top: 100, right: 200, bottom: 250 };
    const [weak, strong] = layoutLabels(
      [request(box, 0.4, 80), request({ ...box, right: 150, bottom: 180 }, 0.8)],
      FRAME,
      { lineWidth: LW },
    );
    expect(strong).toEqual({ x: 50, y: 82, w: 60, h: 20 });
    expect(weak!.x).toBe(50);
    expect(overlaps(weak!, strong!)).toBe(false);
    expect(weak!.y).toBe(62); // just above the first label; just below it (102) is as near, and the upper row wins ties
    expectApart([weak, strong]);
  });

  it("a box at the top edge is labelled inside it, and a second one at the same corner below that", () => {
    const box = { left: 0, top: 0, right: 120, bottom: 90 };
    const [a, b] = layoutLabels([request(box, 0.9), request(box, 0.5)], FRAME, { lineWidth: LW });
    expect(a).toEqual({ x: 0, y: LW, w: 60, h: 20 });
    expect(b).toEqual({ x: 0, y: LW + 20, w: 60, h: 20 });
  });

  it("keeps labels in the image at the right and bottom edges", () => {
    const [r] = layoutLabels([request({ left: 380, top: 290, right: 399, bottom: 299 }, 0.9)], FRAME, {
      lineWidth: LW,
    });
    expect(r).toEqual({ x: 340, y: 290 + LW - 20, w: 60, h: 20 });
  });

  it("keeps off reserved areas", () => {
    const banner = { x: 0, y: 280, w: 400, h: 20 };
    const [r] = layoutLabels([request({ left: 10, top: 285, right: 100, bottom: 299 }, 0.9)], FRAME, {
      lineWidth: LW,
      reserved: [banner],
    });
    expect(overlaps(r!, banner)).toBe(false);
    expect(r!.y + r!.h).toBeLessThanOrEqual(280);
  });

  it("a full column moves the label to the box's right edge; no room at all leaves it out", () => {
    // Inside the top line (1 px) there are rows for two 20-px labels per column.
    const frame = { w: 200, h: 41 };
    const box = { left: 0, top: 0, right: 199, bottom: 40 };
    const rects = layoutLabels(
      [0.9, 0.8, 0.7, 0.6, 0.5].map((s) => request(box, s, 90, 20)),
      frame,
      { lineWidth: 1 },
    );
    expect(rects.slice(0, 2).map((r) => r?.x)).toEqual([0, 0]);
    expect(rects.slice(2, 4).map((r) => r?.x)).toEqual([110, 110]);
    expect(rects[4]).toBeUndefined();
    expectApart(rects);
  });

  it("never overlaps or leaves the image, however crowded", () => {
    const rand = mulberry32(11);
    const int = (n: number) => Math.floor(rand() * n);
    const requests = Array.from({ length: 60 }, () => {
      const left = int(FRAME.w - 1);
      const top = int(FRAME.h - 1);
      return request(
        { left, top, right: left + int(FRAME.w - left), bottom: top + int(FRAME.h - top) },
        rand(),
        30 + int(60),
        14,
      );
    });
    const rects = layoutLabels(requests, FRAME, { lineWidth: 3, reserved: [{ x: 0, y: 286, w: 400, h: 14 }] });
    expect(rects.filter(Boolean).length).toBeGreaterThan(40);
    expectApart([...rects, { x: 0, y: 286, w: 400, h: 14 }]);
  });
});

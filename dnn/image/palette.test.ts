import { describe, expect, it } from "vitest";
import { BLACK, classColor, textColorOn, WHITE } from "./palette.js";

describe("classColor (darknet get_color)", () => {
  it("gives darknet's colours", () => {
    // offset = 16·123457 % 80 = 32 → ratio 2 → colors[2] = {0,1,1} read as (b, g, r): yellow.
    expect(classColor(16, 80)).toEqual([1, 1, 0]);
    // class 0: offset 0 → colors[0] = {1,0,1}: magenta.
    expect(classColor(0, 80)).toEqual([1, 0, 1]);
    // VOC dog (11 of 20): offset 11·123457 % 20 = 7 → ratio 1.75, ¼ of colors[1] = {0,0,1}
    // and ¾ of colors[2] = {0,1,1}, read as (b, g, r): orange.
    const [r, g, b] = classColor(11, 20);
    expect([r, g, b]).toEqual([1, expect.closeTo(0.75, 6), 0]);
  });

  it("differs for every one of COCO's 80 classes and is the same each time for a class", () => {
    const colours = Array.from({ length: 80 }, (_, c) => classColor(c, 80).join(","));
    expect(new Set(colours).size).toBe(80);
    for (let c = 0; c < 80; c++) expect(classColor(c, 80).join(",")).toBe(colours[c]);
  });
});

describe("textColorOn", () => {
  it("dark text on light colours, light text on dark ones", () => {
    expect(textColorOn([1, 1, 0])).toBe(BLACK); // yellow
    expect(textColorOn([0, 1, 1])).toBe(BLACK); // cyan
    expect(textColorOn([0, 0, 1])).toBe(WHITE); // blue
    expect(textColorOn([0.2, 0.1, 0.4])).toBe(WHITE);
    expect(textColorOn(classColor(47, 80))).toBe(WHITE); // COCO 47 (offset 79): nearly pure blue
  });
});

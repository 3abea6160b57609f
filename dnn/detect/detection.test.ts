import { describe, expect, it } from "vitest";
import { DetectionSchema, DetectionsSchema } from "./detection.js";

const good = {
  classId: 16,
  className: "dog",
  probability: 0.87,
  box: { left: 10, top: 20, right: 110, bottom: 220 },
  relative: { x: 0.1, y: 0.2, w: 0.3, h: 0.4 },
};

describe("Detection JSON schema", () => {
  it("round-trips through JSON", () => {
    expect(DetectionsSchema.parse(JSON.parse(JSON.stringify([good])))).toEqual([good]);
  });

  it("refuses what cannot be a detection, saying where", () => {
    const cases: [unknown, string][] = [
      [{ ...good, probability: 1.5 }, "probability"],
      [{ ...good, classId: -1 }, "classId"],
      [{ ...good, box: { ...good.box, left: 3.5 } }, "box.left"],
      [{ ...good, box: { ...good.box, left: 200 } }, "box"],
      [{ ...good, className: "" }, "className"],
    ];
    for (const [value, path] of cases) {
      const result = DetectionSchema.safeParse(value);
      expect(result.success).toBe(false);
      expect(result.error!.issues.map((i) => i.path.join("."))).toContain(path);
    }
  });
});

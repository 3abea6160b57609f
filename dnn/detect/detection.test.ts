import { describe, expect, it } from "vitest";
import { DetectionSchema, DetectionsSchema } from "./detection.js";

const good = {
  classId: 16,
  className: "dog",
  probability: 0.87,
  box: { left: 10, top: 20, right: 110, bottom: 220 },
  normalized: { left: 0.01, top: 0.04, right: 0.11, bottom: 0.44 },
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
      [{ ...good, normalized: { ...good.normalized, right: 1.2 } }, "normalized.right"],
      [{ ...good, normalized: { ...good.normalized, left: 0.5 } }, "normalized"],
      [{ ...good, normalized: undefined }, "normalized"],
    ];
    for (const [value, path] of cases) {
      const result = DetectionSchema.safeParse(value);
      expect(result.success).toBe(false);
      expect(result.error!.issues.map((i) => i.path.join("."))).toContain(path);
    }
  });
});

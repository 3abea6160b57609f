import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ShapeError, UsageError } from "../../core/errors.js";
import { readF32, readOracle } from "../../test/fixtures.js";
import { topK } from "./classify.js";
import { ClassificationsSchema } from "./detection.js";
import { classNames } from "./names.js";

describe("topK on fc-mini's softmax output (darknet oracle)", () => {
  const oracle = readOracle("fc-mini-s3-dog");
  const softmax = oracle.layers.find((l) => l.type === "softmax")!;
  const probs = readF32(join(oracle.dir, softmax.file!));
  const names = classNames(probs.length);

  it("returns the 5 most probable classes, best first", () => {
    const sum = probs.reduce((a, p) => a + p, 0);
    expect(sum).toBeCloseTo(1, 5); // it really is a softmax output
    const top = topK(probs, names);
    expect(top).toHaveLength(5);
    expect(ClassificationsSchema.parse(top)).toEqual(top);
    for (const c of top) {
      expect(c.probability).toBe(probs[c.classId]);
      expect(c.className).toBe(`class ${c.classId}`);
    }
    for (let i = 1; i < top.length; i++) expect(top[i]!.probability).toBeLessThanOrEqual(top[i - 1]!.probability);
    // Nothing left out beats the last one kept.
    const kept = new Set(top.map((c) => c.classId));
    for (let j = 0; j < probs.length; j++) if (!kept.has(j)) expect(probs[j]).toBeLessThanOrEqual(top[4]!.probability);
  });

  it("k larger than the class count returns every class", () => {
    expect(topK(probs, names, 50)).toHaveLength(10);
  });
});

describe("topK input checks", () => {
  it("ties keep the lower class id first", () => {
    expect(topK(new Float32Array([0.25, 0.5, 0.25]), ["a", "b", "c"], 3).map((c) => c.className)).toEqual([
      "b",
      "a",
      "c",
    ]);
  });
  it("refuses a bad k and a names/output mismatch", () => {
    expect(() => topK(new Float32Array(3), ["a", "b", "c"], 0)).toThrow(UsageError);
    expect(() => topK(new Float32Array(3), ["a", "b"])).toThrow(ShapeError);
    expect(() => topK(new Float32Array(3), ["a", "b"])).toThrow(/3 values, there are 2 class names/);
  });
});

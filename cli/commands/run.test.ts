import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DetectionsSchema, ClassificationsSchema } from "../../dnn/detect/detection.js";
import { decodeImage } from "../../dnn/image/decode.js";
import { SYNTHETIC_NOTE } from "../../dnn/synthetic.js";
import { edgefuse } from "../../test/cli.js";
import { diff } from "../../test/compare.js";
import { cfgPath, imagePath, readF32, readOracle } from "../../test/fixtures.js";
import { readFileSync } from "node:fs";

const tmp = mkdtempSync(join(tmpdir(), "edgefuse-run-"));
const mini = readOracle("yolov2-mini-s7-dog");
/** `--cfg` and `--weights` for a cfg of models/ and a weights file in a reference folder. */
const modelArgs = (cfg: string, dir: string, weights: string) => [
  "--cfg",
  cfgPath(cfg),
  "--weights",
  join(dir, weights),
];
const miniArgs = modelArgs("yolov2-mini", mini.dir, mini.weights);

describe("edgefuse run", () => {
  it("--input --dump-layers writes every layer as darknet does", async () => {
    const dir = join(tmp, "dump");
    const r = await edgefuse([
      "run",
      ...miniArgs,
      "--input",
      join(mini.dir, mini.input_file),
      "--dump-layers",
      dir,
      "--json",
      "--thresh",
      "0.01",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(mini.layers.map((l) => `layer${String(l.index).padStart(2, "0")}.f32`));
    for (const l of mini.layers) {
      const d = diff(readF32(join(dir, l.file!)), readF32(join(mini.dir, l.file!)));
      expect(d.relative, `layer ${l.index}`).toBeLessThanOrEqual(1e-3);
    }
    const out = JSON.parse(r.stdout);
    expect(DetectionsSchema.parse(out.detections).length).toBeGreaterThan(0);
  });

  it("--image --json --annotate: detections in image pixels and an annotated picture", async () => {
    const png = join(tmp, "dog.png");
    const r = await edgefuse([
      "run",
      ...miniArgs,
      "--image",
      imagePath("dog.jpg"),
      "--json",
      "--thresh",
      "0.05",
      "--annotate",
      png,
    ]);
    expect(r.code).toBe(0);
    const dets = DetectionsSchema.parse(JSON.parse(r.stdout).detections);
    expect(dets.length).toBeGreaterThan(0);
    for (const d of dets) {
      expect(d.probability).toBeGreaterThanOrEqual(0.05);
      expect(d.box.right).toBeLessThan(768); // dog.jpg is 768×576
      expect(d.box.bottom).toBeLessThan(576);
    }
    const image = decodeImage(readFileSync(png), png);
    expect([image.w, image.h]).toEqual([768, 576]);
  });

  it("a classifier prints its top-5 classes", async () => {
    const fc = readOracle("fc-mini-s3-dog");
    const r = await edgefuse([
      "run",
      ...modelArgs("fc-mini", fc.dir, fc.weights),
      "--input",
      join(fc.dir, fc.input_file),
      "--json",
    ]);
    expect(r.code).toBe(0);
    const classes = ClassificationsSchema.parse(JSON.parse(r.stdout).detections);
    const softmax = readF32(join(fc.dir, "layer09.f32"));
    const best = [...softmax.keys()].sort((a, b) => softmax[b]! - softmax[a]!).slice(0, 5);
    expect(classes.map((c) => c.classId)).toEqual(best);
    expect(classes[0]!.probability).toBeCloseTo(softmax[best[0]!]!, 5);
  });

  describe("bad input gets one clear line and a non-zero exit", () => {
    it("a wrong-size --input", async () => {
      const bad = join(tmp, "bad.f32");
      writeFileSync(bad, Buffer.alloc(100));
      const r = await edgefuse(["run", ...miniArgs, "--input", bad]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(
        `edgefuse run: ${bad}: expected a float32 3×96×96 tensor = 110592 bytes, got 100 bytes`,
      );
    });
    it("a file that is not an image", async () => {
      const r = await edgefuse(["run", ...miniArgs, "--image", cfgPath("yolov2-mini")]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^edgefuse run: .*yolov2-mini\.cfg: not a JPEG or PNG/);
    });
    it("weights that do not fit the cfg", async () => {
      const r = await edgefuse([
        "run",
        ...modelArgs("yolov2-tiny", mini.dir, mini.weights),
        "--input",
        join(mini.dir, mini.input_file),
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^edgefuse run: .*yolov2-mini-s7\.weights: too short for .*yolov2-tiny\.cfg: expected \d+ bytes/,
      );
    });
    it("both --image and --input, and an unknown flag", async () => {
      const both = await edgefuse(["run", ...miniArgs, "--image", "a.jpg", "--input", "b.f32"]);
      expect(both.code).toBe(2);
      expect(both.stderr).toMatch(/--image: give exactly one of --image or --input/);
      const unknown = await edgefuse(["run", ...miniArgs, "--colour"]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toBe(
        "edgefuse run: --colour: unknown flag (edgefuse run --help lists them)\nusage: edgefuse run --cfg FILE --weights FILE [flags]\n",
      );
    });
  });
});

describe("edgefuse weights", () => {
  it("writes seeded weights that edgefuse run loads", async () => {
    const out = join(tmp, "mini.weights");
    const w = await edgefuse(["weights", "--cfg", cfgPath("yolov2-mini"), "--seed", "3", "--out", out]);
    expect(w.code).toBe(0);
    expect(w.stdout).toMatch(/wrote .*mini\.weights: 1\.7 MB, 429656 parameters/);
    const r = await edgefuse([
      "run",
      "--cfg",
      cfgPath("yolov2-mini"),
      "--weights",
      out,
      "--input",
      join(mini.dir, mini.input_file),
      "--json",
      "--dump-layers",
      join(tmp, "synthetic"),
    ]);
    expect(r.code).toBe(0);
    // Bounded activations all the way down: no layer blows up or dies out.
    for (let i = 0; i < 17; i++) {
      const x = readF32(join(tmp, "synthetic", `layer${String(i).padStart(2, "0")}.f32`));
      const peak = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(peak, `layer ${i}`).toBeGreaterThan(1e-2);
      expect(peak, `layer ${i}`).toBeLessThan(1e2);
    }
  });

  it("run says when the weights are synthetic: a line, synthetic in --json, a banner in --annotate; the same file unmarked says nothing", async () => {
    const marked = join(tmp, "marked.weights");
    expect((await edgefuse(["weights", "--cfg", cfgPath("yolov2-mini"), "--seed", "3", "--out", marked])).code).toBe(0);
    const unmarked = join(tmp, "unmarked.weights");
    const bytes = readFileSync(marked);
    bytes.writeBigUInt64LE(0n, 12); // `seen` as generators before the marker wrote it
    writeFileSync(unmarked, bytes);
    // dog.jpg is 768×576: labels 17 px high with 4 px padding, so the banner is the bottom 25 rows.
    const bottomRowBlack = (png: string) => {
      const im = decodeImage(readFileSync(png), png);
      return Array.from({ length: im.w }, (_, x) =>
        [0, 1, 2].every((k) => im.data[k * im.w * im.h + (im.h - 1) * im.w + x] === 0),
      ).every(Boolean);
    };
    for (const [weights, synthetic] of [
      [marked, true],
      [unmarked, false],
    ] as const) {
      const png = join(tmp, `${synthetic}.png`);
      const args = [
        "run",
        "--cfg",
        cfgPath("yolov2-mini"),
        "--weights",
        weights,
        "--image",
        imagePath("dog.jpg"),
        "--thresh",
        "0.05",
      ];
      const json = await edgefuse([...args, "--json", "--annotate", png]);
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout).synthetic).toBe(synthetic);
      expect(bottomRowBlack(png), "banner").toBe(synthetic);
      const text = await edgefuse(args);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stderr.includes(SYNTHETIC_NOTE)).toBe(synthetic);
    }
  });
});

/**
 * The trained Fashion-MNIST classifier through the CLI as a user runs it: `run` names
 * the classes from the names file beside the cfg, `infer --names` names a deployment's
 * answer, `eval` scores shipped test images through a running deployment and gets
 * darknet's own count of right answers, and `demo --model fashion` prints predictions
 * beside the true labels.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FASHION } from "../dnn/dataset/fashion.js";
import { labelOf } from "../dnn/dataset/labelled.js";
import { readNames } from "../dnn/detect/names.js";
import { loadNetwork } from "../dnn/network.js";
import { edgefuse } from "../test/cli.js";
import { readClassifierOracle } from "../test/oracle/classifier.js";
import { type LocalSystem, startLocalSystem } from "./system.js";

const names = readNames(FASHION.names);
const oracle = readClassifierOracle("fashion-test-500");
const argmax = (v: Float32Array) => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0);
const model = ["--cfg", FASHION.cfg, "--weights", FASHION.weights];
const boot = join(FASHION.testImages, "00000-boot.png");

/** "boot: 57.16%" for darknet's top class of image 0. */
const topLine = (i: number) => {
  const row = oracle.row(i);
  const best = argmax(row);
  return `${names[best]}: ${(100 * row[best]!).toFixed(2)}%`;
};

describe("edgefuse run on the Fashion-MNIST classifier", () => {
  it("prints darknet's top-5 with the names beside the cfg", async () => {
    const r = await edgefuse(["run", ...model, "--image", boot]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe(topLine(0));
  });
});

describe("a running deployment of it (3 devices)", () => {
  let system: LocalSystem;
  beforeAll(async () => {
    system = await startLocalSystem({
      network: loadNetwork(FASHION.cfg),
      weightsPath: FASHION.weights,
      devices: 3,
      port: 0,
      workers: "inline",
      gmacPerSec: 50,
      planning: { objective: "comm", wire: "f32" },
      classNames: names,
      deployment: "fashion-cli",
      log: () => undefined,
    });
    await system.source.ready();
  });
  afterAll(async () => system?.stop());
  const at = () => ["--broker", system.brokerUrl, "--deployment", system.deployment];

  it("answers with the top-5 classes by the names it was given, as infer prints them", async () => {
    const r = await edgefuse(["infer", boot, ...at(), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const { detections } = JSON.parse(r.stdout) as { detections: { classId: number; className: string }[] };
    expect(detections).toHaveLength(5);
    for (const d of detections) expect(d.className).toBe(names[d.classId]);
    expect((await edgefuse(["infer", boot, ...at()])).stdout.split("\n")[0]).toBe(topLine(0));
  });

  it("infer --names names the classes by the client's own file", async () => {
    const upper = join(mkdtempSync(join(tmpdir(), "fashion-cli-")), "upper.names");
    writeFileSync(upper, names.map((n) => n.toUpperCase()).join("\n"));
    const r = await edgefuse(["infer", boot, ...at(), "--names", upper]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(topLine(0).toUpperCase());
  });

  it("eval scores 100 images as darknet does, with a progress line", async () => {
    const expected = oracle.images
      .slice(0, 100)
      .filter((file, i) => argmax(oracle.row(i)) === labelOf(file, names)).length;
    const r = await edgefuse([
      "eval",
      ...at(),
      "--dataset",
      FASHION.testImages,
      "--names",
      FASHION.names,
      "--limit",
      "100",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`top-1: ${expected}/100 = ${expected.toFixed(2)}%`);
    expect(r.stderr).toContain("100/100");
  });

  it("eval refuses a data set whose file names carry no class name, naming the file", async () => {
    const other = join(mkdtempSync(join(tmpdir(), "fashion-cli-")), "pets.names");
    writeFileSync(other, "cat\ndog\n");
    const r = await edgefuse(["eval", ...at(), "--dataset", FASHION.testImages, "--names", other]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("00000-boot.png: its file name contains none of the 2 class names");
  });
});

describe("edgefuse demo --model fashion", () => {
  it("prints 8 predictions beside the true labels, darknet's own", async () => {
    const r = await edgefuse(["demo", "--model", "fashion"], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split("\n");
    expect(rows).toHaveLength(9);
    for (const [i, row] of rows.slice(0, 8).entries()) {
      const truth = labelOf(oracle.images[i]!, names);
      expect(row).toContain(`true ${names[truth]}`);
      expect(row).toContain(`predicted ${names[argmax(oracle.row(i))]} `);
    }
    const right = oracle.images.slice(0, 8).filter((f, i) => argmax(oracle.row(i)) === labelOf(f, names)).length;
    expect(rows[8]).toBe(`${right}/8 right`);
  });
});

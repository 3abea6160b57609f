/**
 * edgefuse against darknet on the classifier darknet trained (models/fashion/): each of
 * the 500 shipped test images, decoded and letterboxed by edgefuse and run by the engine
 * on one device, gets darknet's own top-1 class, and every probability within 1e-4 of
 * darknet's (test/oracle/classifier.ts: darknet-classify.c, darknet's predict_classifier
 * path, run by vitest's globalSetup).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readClassifierOracle } from "../../test/oracle/classifier.js";
import { readNames } from "../detect/names.js";
import { createEngine, type Engine } from "../engine.js";
import { loadImage } from "../image/decode.js";
import { networkInput } from "../image/letterbox.js";
import { interpret } from "../interpret.js";
import { loadNetwork } from "../network.js";
import { readWeights } from "../weights.js";
import { FASHION } from "./fashion.js";
import { labelOf } from "./labelled.js";

const argmax = (v: Float32Array) => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0);

describe("the Fashion-MNIST classifier on one device", () => {
  const oracle = readClassifierOracle("fashion-test-500");
  const network = loadNetwork(FASHION.cfg);
  const names = readNames(FASHION.names);
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine(network, readWeights(FASHION.weights, network));
  });
  afterAll(async () => engine?.release());

  it("agrees with darknet's top-1 on every image, probabilities within 1e-4", async () => {
    expect(oracle.images).toHaveLength(500);
    let worst = 0;
    let correct = 0;
    for (const [i, file] of oracle.images.entries()) {
      const { output } = await engine.forward(networkInput(loadImage(file), network.input));
      const darknet = oracle.row(i);
      expect(output.length).toBe(darknet.length);
      expect(argmax(output), file).toBe(argmax(darknet));
      for (let k = 0; k < output.length; k++) worst = Math.max(worst, Math.abs(output[k]! - darknet[k]!));
      if (argmax(output) === labelOf(file, names)) correct++;
    }
    expect(worst).toBeLessThanOrEqual(1e-4);
    console.log(
      `fashion: top-1 ${correct}/500 against the labels; max |edgefuse − darknet| = ${worst.toExponential(2)}`,
    );
  });

  it("is named by the names given, and a list of another length is refused", () => {
    const row = oracle.row(0);
    const named = interpret(network, row, undefined, { names }).detections;
    expect(named.map((c) => c.className)).toEqual(named.map((c) => names[c.classId]));
    expect(named[0]!.classId).toBe(argmax(row));
    expect(() => interpret(network, row, undefined, { names: names.slice(1) })).toThrow(
      "9 class names were given, the network has 10 classes",
    );
  });
});

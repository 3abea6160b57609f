/**
 * The classifier darknet trained (models/fashion/), split over N = 3 and 6 devices
 * under all-LOP, all-LIP, the ILP optimum and FTP + optimum, gives what one device
 * gives on every one of the 500 shipped test images: each sent as a client sends it
 * (its PNG bytes on infer/<id>, eight in flight), its top-1 class the single-device
 * engine's and every probability within 1e-4 of it (float32 wire). The single device
 * agrees with darknet itself (dnn/dataset/fashion.oracle.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBus } from "../broker/bus.js";
import { topicsFor } from "../broker/topics.js";
import { requestEach } from "../cli/request-pool.js";
import { FASHION } from "../dnn/dataset/fashion.js";
import { type LabelledImage, openLabelledSet } from "../dnn/dataset/labelled.js";
import { readNames } from "../dnn/detect/names.js";
import { createEngine } from "../dnn/engine.js";
import { decodeImage } from "../dnn/image/decode.js";
import { networkInput } from "../dnn/image/letterbox.js";
import { loadNetwork } from "../dnn/network.js";
import { readWeights } from "../dnn/weights.js";
import { diff } from "../test/compare.js";
import { expectVariant, PLANS, resolvePlanning } from "../test/plan-variants.js";
import { type LocalSystem, startLocalSystem } from "./system.js";

const network = loadNetwork(FASHION.cfg);
let images: LabelledImage[];
/** The single-device engine's output for each image. */
let single: Float32Array[];

beforeAll(async () => {
  images = openLabelledSet(FASHION.testImages, readNames(FASHION.names));
  const engine = await createEngine(network, readWeights(FASHION.weights, network));
  try {
    single = [];
    for (const image of images)
      single.push((await engine.forward(networkInput(decodeImage(image.bytes(), image.name), network.input))).output);
  } finally {
    await engine.release();
  }
});

let runs = 0;

describe.each([3, 6])("N = %i", (devices) => {
  let system: LocalSystem;
  const outputs = new Map<string, Float32Array>();
  beforeAll(async () => {
    system = await startLocalSystem({
      network,
      weightsPath: FASHION.weights,
      devices,
      port: 0,
      workers: "inline",
      gmacPerSec: 50,
      planning: PLANS[0]![1],
      log: () => undefined,
      onOutput: (id, out) => void outputs.set(id, out),
    });
    await system.source.ready();
  });
  afterAll(async () => system?.stop());

  it.each(PLANS)("%s gives the single-device answer on every image", async (label, planning) => {
    await system.replan(resolvePlanning(planning, network));
    expectVariant(system, label);
    const bus = await connectBus(system.brokerUrl, { clientId: `fashion-test-${++runs}` });
    const idPrefix = `f${runs}`;
    const mismatches: string[] = [];
    let worst = 0;
    try {
      await requestEach(
        bus,
        topicsFor(system.deployment),
        images.length,
        (i) => images[i]!.bytes(),
        { inFlight: 8, timeoutMs: 30_000, idPrefix },
        (i, answer) => {
          const name = images[i]!.name;
          if (!answer.ok) return void mismatches.push(`${name}: ${answer.error}`);
          const reference = single[i]!;
          const top = answer.result.detections[0]!;
          const expected = reference.indexOf(Math.max(...reference));
          if (top.classId !== expected) mismatches.push(`${name}: class ${top.classId}, one device ${expected}`);
          if (Math.abs(top.probability - reference[expected]!) > 1e-4)
            mismatches.push(`${name}: p ${top.probability}, one device ${reference[expected]}`);
          const output = outputs.get(`${idPrefix}-${i}`);
          if (!output) return void mismatches.push(`${name}: no output tensor`);
          worst = Math.max(worst, diff(output, reference).maxAbs);
        },
      );
    } finally {
      await bus.close();
    }
    expect(mismatches.slice(0, 5), `${mismatches.length} of ${images.length} images differ`).toEqual([]);
    expect(worst, "max |distributed − single| over every probability").toBeLessThanOrEqual(1e-4);
  });
});

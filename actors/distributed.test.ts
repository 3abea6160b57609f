/**
 * The system over MQTT gives what one device gives: the three oracle networks on
 * N = 1, 2, 3, 6 devices under all-LOP, all-LIP, the ILP optimum and FTP + optimum,
 * through the embedded broker; and a subset through a real Mosquitto, with and
 * without a 256 KiB packet limit (chunking for real).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { interpret } from "../dnn/interpret.js";
import { diff } from "../test/compare.js";
import { startMosquitto, type TestBroker } from "../test/brokers.js";
import { expectVariant, PLANS, resolvePlanning as resolve } from "../test/plan-variants.js";
import { type Fixture, fixture, inferTensor, startFixtureSystem } from "../test/systems.js";
import { type LocalSystem, startLocalSystem } from "./system.js";

function expectSame(f: Fixture, got: { result: { detections: unknown[] }; output: Float32Array }) {
  const d = diff(got.output, f.reference);
  expect(d.relative, `max |a−b| = ${d.maxAbs}`).toBeLessThanOrEqual(1e-4);
  // What the user sees matches too: the same classes and boxes, probabilities within 1e-4.
  const single = interpret(f.network, f.reference, undefined).detections as { classId: number; probability: number }[];
  const distributed = got.result.detections as { classId: number; probability: number }[];
  expect(distributed.map((x) => x.classId)).toEqual(single.map((x) => x.classId));
  for (const [i, x] of distributed.entries())
    expect(Math.abs(x.probability - single[i]!.probability)).toBeLessThanOrEqual(1e-4);
}

let counter = 0;
const nextId = () => `r${++counter}`;

describe.each(["yolov2-mini-s7-dog", "fc-mini-s3-dog", "yolov2-tiny-s1-dog"])("%s over the embedded broker", (name) => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture(name);
  });

  describe.each([1, 2, 3, 6])("N = %i", (devices) => {
    let system: LocalSystem;
    const outputs = new Map<string, Float32Array>();
    beforeAll(async () => {
      system = await startFixtureSystem(f, devices, outputs, { planning: PLANS[0]![1] });
    });
    afterAll(async () => system?.stop());

    it.each(PLANS)("%s equals the single-device output", async (label, planning) => {
      await system.replan(resolve(planning, f.network));
      expectVariant(system, label);
      expectSame(f, await inferTensor(system, outputs, f.input, f.network, nextId()));
    });
  });
});

describe.each([
  ["Mosquitto", {}],
  ["Mosquitto with max_packet_size 262144", { maxPacketBytes: 262144 }],
] as const)("yolov2-tiny through %s", (_label, mosquittoOptions) => {
  let broker: TestBroker;
  let system: LocalSystem;
  let f: Fixture;
  const outputs = new Map<string, Float32Array>();
  beforeAll(async () => {
    f = await fixture("yolov2-tiny-s1-dog");
    broker = await startMosquitto(mosquittoOptions);
    system = await startLocalSystem({
      network: f.network,
      weightsPath: f.weightsPath,
      devices: 3,
      brokerUrl: broker.url,
      deployment: `mq${++counter}`,
      workers: "inline",
      planning: PLANS[2]![1],
      log: () => undefined,
      onOutput: (id, out) => outputs.set(id, out),
    });
    await system.source.ready();
  });
  afterAll(async () => {
    await system?.stop();
    await broker?.close();
  });

  it.each([PLANS[3]!, PLANS[1]!])("%s equals the single-device output", async (label, planning) => {
    await system.replan(resolve(planning, f.network));
    expectVariant(system, label);
    expectSame(f, await inferTensor(system, outputs, f.input, f.network, nextId()));
  });
});

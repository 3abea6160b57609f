/**
 * The system over MQTT gives what one device gives: the three oracle networks on
 * N = 1, 2, 3, 6 devices under all-LOP, all-LIP, the ILP optimum and FTP + optimum,
 * through the embedded broker; and a subset through a real Mosquitto, with and
 * without a 256 KiB packet limit (chunking for real).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Network } from "../dnn/network.js";
import { interpret } from "../dnn/interpret.js";
import type { PlanOptions } from "../planner/build.js";
import { maxFtpEnd } from "../planner/ftp.js";
import { diff } from "../test/compare.js";
import { startMosquitto, type TestBroker } from "../test/brokers.js";
import { type Fixture, fixture, inferTensor, startFixtureSystem } from "../test/systems.js";
import { type LocalSystem, startLocalSystem } from "./system.js";

type Planning = Partial<Omit<PlanOptions, "devices">>;
// Tensors as float32 throughout: what darknet computes, to the last float (wire.test.ts covers the others).
const PLANS: [string, Planning][] = [
  // The paper's schemes on every device (least C: the latency objective would rightly keep a net this small on one device).
  ["all-LOP", { strategy: "lop", ftpEnd: 0, objective: "comm", wire: "f32" }],
  ["all-LIP", { strategy: "lip", ftpEnd: 0, objective: "comm", wire: "f32" } as Planning],
  ["ILP optimum", { strategy: "auto", ftpEnd: 0, objective: "comm", wire: "f32" }],
  // FTP over every layer it may cover ("auto" may rightly choose none for a small net).
  ["FTP + optimum", { strategy: "auto", ftpEnd: "max" as unknown as number, objective: "comm", wire: "f32" }],
];
/** "max" → the network's largest FTP boundary. */
const resolve = (planning: Planning, network: Network): Planning =>
  (planning.ftpEnd as unknown) === "max" ? { ...planning, ftpEnd: maxFtpEnd(network) } : planning;

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

/** The plan in force really is the variant asked for. */
function expectVariant(system: LocalSystem, label: string) {
  const plan = system.planner.current()!;
  const schemes = plan.steps.filter((s) => s.scheme !== "source" && s.scheme !== "carry").map((s) => s.scheme);
  if (label === "all-LOP") expect(new Set(schemes)).toEqual(new Set(["lop"]));
  if (label === "all-LIP") expect(new Set(schemes)).toEqual(new Set(["lip"]));
  if (label.includes("FTP")) expect(plan.ftp, "an FTP stage").not.toBeNull();
  else expect(plan.ftp).toBeNull();
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

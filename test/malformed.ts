/**
 * The deployment the malformed-message suites (actors/malformed-*.test.ts) send their bad
 * messages to, and how they talk to it. Each case sends one bad message, asserts the
 * report — the message on `errors/<id>` or the log line that names what is wrong — and
 * then asserts that a valid request still gives the single-device output.
 *
 * One deployment per suite file: the embedded broker, the planner, the source, one
 * inline worker (worker-1) and the suite's own worker on a runtime it can hold
 * (worker-held), so a job stays in flight for as long as a case needs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect } from "vitest";
import { inbox, type Teardown, startEmbedded, useTeardown } from "./brokers.js";
import { diff } from "./compare.js";
import { holdableRuntime, logBook } from "./faults.js";
import { cfgPath, imagePath, readF32, readOracle } from "./fixtures.js";
import { type Bus, busOver, connectBus } from "../broker/bus.js";
import { encodeFrame } from "../broker/frame.js";
import { decodeJson, type ErrorMessage, errorMessageSchema } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { presenceWill } from "../actors/runtime/device.js";
import { buildSchedule, type Schedule, type Task, tasksOf } from "../actors/runtime/schedule.js";
import { resultsSchema } from "../actors/source/source.js";
import { type LocalSystem, startLocalSystem } from "../actors/system.js";
import { startWorker, type WorkerActor } from "../actors/worker/worker.js";
import { createEngine } from "../dnn/engine.js";
import { interpret } from "../dnn/interpret.js";
import { shapeSize } from "../dnn/layers.js";
import { loadNetwork, type Network } from "../dnn/network.js";
import { onnxRuntime } from "../dnn/onnx/runtime.js";
import { readWeights } from "../dnn/weights.js";
import type { PlanOptions } from "../planner/build.js";
import type { Plan } from "../planner/schema.js";
import { REGION_DEFAULTS } from "../dnn/detect/region.js";

export const DEPLOYMENT = "malformed";
/** The suite's own worker: its runtime can hold a run, which keeps a job in flight. */
export const HELD = "worker-held";
/**
 * Every device takes a part (least C; the fastest plan may rightly keep a net this small
 * on fewer), and tensors travel as float32: answers are compared with one device's to 1e-4.
 */
export const PLANNING: Partial<Omit<PlanOptions, "devices">> = {
  strategy: "lop",
  ftpEnd: 0,
  objective: "comm",
  wire: "f32",
};
export const topics = topicsFor(DEPLOYMENT);

/** A regexp that matches `text` literally. */
export const literal = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
export const junkChunk = () => Buffer.concat([Buffer.from("JUNK"), Buffer.alloc(60)]);
export const patched = (bytes: Buffer, patch: (b: Buffer) => void) => {
  const copy = Buffer.from(bytes);
  patch(copy);
  return copy;
};

type Reply = { kind: "results" | "errors"; payload: Buffer };

/** The running deployment, its reference output, and the suite's connections to it; set in beforeAll. */
export interface MalformedDeployment {
  readonly logs: ReturnType<typeof logBook>;
  network: Network;
  input: Float32Array;
  reference: Float32Array;
  dog: Buffer;
  system: LocalSystem;
  bus: Bus;
  hold: ReturnType<typeof holdableRuntime>;
  /** worker-held's own connection: the suite sees what reached that worker. */
  heldBus: Bus;
  heldWorker: WorkerActor;
  plan: Plan;
  schedule: Schedule;
}

/** Starts the deployment before the suite's cases (and stops it after); its fields are set once they run. */
export function useMalformedDeployment() {
  const teardown = useTeardown("all");
  const d = { logs: logBook() } as MalformedDeployment;
  const replies = new Map<string, ReturnType<typeof inbox<Reply>>>();
  const outputs = new Map<string, Float32Array>();
  let counter = 0;
  const nextId = (prefix: string) => `${prefix}-${++counter}`;

  const inboxOf = (id: string) => {
    const box = replies.get(id) ?? inbox<Reply>();
    replies.set(id, box);
    return box;
  };

  beforeAll(async () => {
    await startDeployment(d, teardown, (id, out) => outputs.set(id, out));
    await d.bus.subscribe([topics.filters.results(), topics.filters.errors()], {
      onMessage: (topic, payload) => {
        const at = topics.parse(topic);
        if (at?.kind === "results" || at?.kind === "errors") inboxOf(at.requestId).push({ kind: at.kind, payload });
      },
      onError: (err) => d.logs.push(`test client: ${err.message}`),
    });
  });

  const reply = (id: string, timeoutMs = 10_000) => inboxOf(id).next(timeoutMs, `reply to ${id}`);
  /** The test's bus chunking to a smaller packet limit. */
  const chunkingTo = (maxPacketBytes: number) => busOver(d.bus.client, { maxPacketBytes });
  const tensorFrame = (id: string) =>
    encodeFrame(
      { jobId: id, layer: 0, part: 0, shape: [d.network.input.c, d.network.input.h, d.network.input.w] },
      d.input,
    );

  /** The reply to `id` is a result whose tensor and detections are the single-device ones. */
  async function expectCorrect(id: string): Promise<void> {
    const r = await reply(id);
    expect(r.kind, r.payload.toString()).toBe("results");
    const result = decodeJson(topics.results(id), r.payload, resultsSchema);
    const dist = diff(outputs.get(id)!, d.reference);
    expect(dist.relative, `max |a−b| = ${dist.maxAbs}`).toBeLessThanOrEqual(1e-4);
    const single = interpret(d.network, d.reference, undefined, { thresh: REGION_DEFAULTS.thresh })
      .detections as Detection[];
    const got = result.detections as Detection[];
    expect(got.map((x) => x.classId)).toEqual(single.map((x) => x.classId));
    for (const [i, x] of got.entries())
      expect(Math.abs(x.probability - single[i]!.probability)).toBeLessThanOrEqual(1e-4);
  }

  return {
    d,
    logs: d.logs,
    inboxOf,
    nextId,
    /** Sends `payload` as it is, in one packet, never chunked: the malformed messages go out exactly as written. */
    publish: (topic: string, payload: Buffer | string, retain = false) =>
      d.bus.client.publishAsync(topic, Buffer.from(payload), { qos: 1, retain }),
    chunkingTo,
    tensorFrame,
    async errorFor(id: string, timeoutMs?: number): Promise<ErrorMessage> {
      const r = await reply(id, timeoutMs);
      expect(r.kind, r.payload.toString()).toBe("errors");
      return decodeJson(topics.errors(id), r.payload, errorMessageSchema);
    },
    expectCorrect,
    /** A valid request (chunked when maxPacketBytes is small) is served correctly. */
    async expectServes(maxPacketBytes?: number): Promise<void> {
      const id = nextId("ok");
      await (maxPacketBytes ? chunkingTo(maxPacketBytes) : d.bus).publish(topics.infer(id), tensorFrame(id));
      await expectCorrect(id);
    },
    /** The first task of `workerId` that needs nothing kept from an earlier one. */
    firstTask: (workerId: string): Task => tasksOf(d.schedule, workerId).find((t) => !t.held)!,
    /** A task's output, all zeros: a well-formed frame of the right shape. */
    outputFrame: (jobId: string, task: Task) => {
      const { c, h, w } = task.output;
      return encodeFrame(
        { jobId, layer: task.layer, part: task.part, shape: [c, h, w] },
        new Float32Array(shapeSize(task.output)),
      );
    },
  };
}

type Detection = { classId: number; probability: number };

/** The reference output on one device, then the deployment with worker-held, and the suite's own connection. */
async function startDeployment(
  d: MalformedDeployment,
  teardown: Teardown,
  onOutput: (id: string, out: Float32Array) => void,
): Promise<void> {
  const oracle = readOracle("yolov2-mini-s7-dog");
  d.network = loadNetwork(cfgPath("yolov2-mini"));
  const weightsPath = join(oracle.dir, oracle.weights);
  d.input = readF32(join(oracle.dir, oracle.input_file));
  d.dog = readFileSync(imagePath("dog.jpg"));
  const engine = await createEngine(d.network, readWeights(weightsPath, d.network));
  d.reference = (await engine.forward(d.input)).output;
  await engine.release();

  const broker = teardown.broker(await startEmbedded());
  d.hold = holdableRuntime(onnxRuntime());
  d.heldBus = await connectBus(broker.url, { clientId: HELD, will: presenceWill(topics, HELD), reconnectPeriodMs: 0 });
  teardown.client(d.heldBus.client);
  d.heldWorker = await startWorker({
    bus: d.heldBus,
    deployment: DEPLOYMENT,
    workerId: HELD,
    runtime: d.hold.runtime,
    gmacPerSec: 50,
    memoryBudgetBytes: 1e9,
    log: d.logs.push,
  });
  teardown.add(() => d.heldWorker.stop());
  d.system = await startLocalSystem({
    network: d.network,
    weightsPath,
    devices: 2,
    brokerUrl: broker.url,
    deployment: DEPLOYMENT,
    workers: "inline",
    planning: PLANNING,
    gmacPerSec: 50, // as the held worker announces: devices of one speed, not this machine's probe
    log: d.logs.push,
    onOutput,
  });
  teardown.add(() => d.system.stop());
  await d.system.source.ready();
  d.plan = d.system.planner.current()!;
  expect(d.plan.devices.map((x) => x.workerId)).toEqual(["source", "worker-1", HELD]);
  d.schedule = buildSchedule(d.plan, d.network);

  d.bus = await connectBus(broker.url, { clientId: "malformed-test" });
  teardown.client(d.bus.client);
}

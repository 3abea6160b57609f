/**
 * Malformed messages on every topic an actor subscribes to. Each case sends one bad message, asserts the report — the message on
 * `errors/<id>` or the log line that names what is wrong — and then asserts that a
 * valid request still gives the single-device output.
 *
 * One deployment for the file: the embedded broker, the planner, the source, one
 * inline worker (worker-1) and the test's own worker on a runtime it can hold
 * (worker-held), so a job stays in flight for as long as a case needs.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type Bus, busOver, connectBus } from "../broker/bus.js";
import { encodeFrame } from "../broker/frame.js";
import { decodeJson, errorMessageSchema, type ErrorMessage } from "../broker/messages.js";
import { chunkTopic, topicsFor } from "../broker/topics.js";
import { createEngine } from "../dnn/engine.js";
import { interpret } from "../dnn/interpret.js";
import { loadNetwork, type Network, shapeSize } from "../dnn/network.js";
import { onnxRuntime } from "../dnn/onnx/runtime.js";
import { readWeights } from "../dnn/weights.js";
import type { PlanOptions } from "../planner/build.js";
import type { PartitionedStep, Plan } from "../planner/schema.js";
import { inbox, startEmbedded, useTeardown } from "../test/brokers.js";
import { diff } from "../test/compare.js";
import { holdableRuntime, logBook } from "../test/faults.js";
import { cfgPath, imagePath, readF32, readOracle } from "../test/shared.js";
import { presenceWill } from "./runtime/device.js";
import { buildSchedule, type Schedule, tasksOf, type Task } from "./runtime/schedule.js";
import { resultsSchema } from "./source/source.js";
import { type LocalSystem, startLocalSystem } from "./system.js";
import { startWorker, type WorkerActor } from "./worker/worker.js";

const DEPLOYMENT = "malformed";
/** The test's own worker: its runtime can hold a run, which keeps a job in flight. */
const HELD = "worker-held";
const PLANNING: Partial<Omit<PlanOptions, "devices">> = { strategy: "lop", ftpEnd: 0 };
const topics = topicsFor(DEPLOYMENT);

/** A regexp that matches `text` literally. */
const literal = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
const junkChunk = () => Buffer.concat([Buffer.from("JUNK"), Buffer.alloc(60)]);
const patched = (bytes: Buffer, patch: (b: Buffer) => void) => {
  const copy = Buffer.from(bytes);
  patch(copy);
  return copy;
};

type Reply = { kind: "results" | "errors"; payload: Buffer };

describe("malformed messages on every subscribed topic", () => {
  const teardown = useTeardown("all");
  const logs = logBook();
  const outputs = new Map<string, Float32Array>();
  const replies = new Map<string, ReturnType<typeof inbox<Reply>>>();
  let network: Network;
  let input: Float32Array;
  let reference: Float32Array;
  let dog: Buffer;
  let system: LocalSystem;
  let bus: Bus;
  let hold: ReturnType<typeof holdableRuntime>;
  /** worker-held's own connection: the test sees what reached that worker. */
  let heldBus: Bus;
  let heldWorker: WorkerActor;
  let plan: Plan;
  let schedule: Schedule;
  let counter = 0;
  const nextId = (prefix: string) => `${prefix}-${++counter}`;

  beforeAll(async () => {
    const oracle = readOracle("yolov2-mini-s7-dog");
    network = loadNetwork(cfgPath("yolov2-mini"));
    const weightsPath = join(oracle.dir, oracle.weights);
    input = readF32(join(oracle.dir, oracle.input_file));
    dog = readFileSync(imagePath("dog.jpg"));
    const engine = await createEngine(network, readWeights(weightsPath, network));
    reference = (await engine.forward(input)).output;
    await engine.release();

    const broker = teardown.broker(await startEmbedded());
    hold = holdableRuntime(onnxRuntime());
    heldBus = await connectBus(broker.url, { clientId: HELD, will: presenceWill(topics, HELD), reconnectPeriodMs: 0 });
    teardown.client(heldBus.client);
    heldWorker = await startWorker({
      bus: heldBus,
      deployment: DEPLOYMENT,
      workerId: HELD,
      runtime: hold.runtime,
      gmacPerSec: 50,
      memoryBudgetBytes: 1e9,
      log: logs.push,
    });
    teardown.add(() => heldWorker.stop());
    system = await startLocalSystem({
      network,
      weightsPath,
      devices: 2,
      brokerUrl: broker.url,
      deployment: DEPLOYMENT,
      workers: "inline",
      planning: PLANNING,
      log: logs.push,
      onOutput: (id, out) => outputs.set(id, out),
    });
    teardown.add(() => system.stop());
    await system.source.ready();
    plan = system.planner.current()!;
    expect(plan.devices.map((d) => d.workerId)).toEqual(["source", "worker-1", HELD]);
    schedule = buildSchedule(plan, network);

    bus = await connectBus(broker.url, { clientId: "malformed-test" });
    teardown.client(bus.client);
    await bus.subscribe([topics.filters.results(), topics.filters.errors()], {
      onMessage: (topic, payload) => {
        const at = topics.parse(topic);
        if (at?.kind === "results" || at?.kind === "errors") inboxOf(at.requestId).push({ kind: at.kind, payload });
      },
      onError: (err) => logs.push(`test client: ${err.message}`),
    });
  });

  // ---- talking to the deployment ----

  const inboxOf = (id: string) => {
    let box = replies.get(id);
    if (!box) replies.set(id, (box = inbox<Reply>()));
    return box;
  };
  const reply = (id: string, timeoutMs = 10_000) => inboxOf(id).next(timeoutMs, `reply to ${id}`);
  /** Sends `payload` as it is, in one packet, never chunked: the malformed messages go out exactly as written. */
  const publish = (topic: string, payload: Buffer | string, retain = false) =>
    bus.client.publishAsync(topic, Buffer.from(payload), { qos: 1, retain });
  /** The test's bus chunking to a smaller packet limit. */
  const chunkingTo = (maxPacketBytes: number) => busOver(bus.client, { maxPacketBytes });
  const tensorFrame = (id: string) =>
    encodeFrame({ jobId: id, layer: 0, part: 0, shape: [network.input.c, network.input.h, network.input.w] }, input);

  async function errorFor(id: string, timeoutMs?: number): Promise<ErrorMessage> {
    const r = await reply(id, timeoutMs);
    expect(r.kind, r.payload.toString()).toBe("errors");
    return decodeJson(topics.errors(id), r.payload, errorMessageSchema);
  }

  /** The reply to `id` is a result whose tensor and detections are the single-device ones. */
  async function expectCorrect(id: string): Promise<void> {
    const r = await reply(id);
    expect(r.kind, r.payload.toString()).toBe("results");
    const result = decodeJson(topics.results(id), r.payload, resultsSchema);
    const d = diff(outputs.get(id)!, reference);
    expect(d.relative, `max |a−b| = ${d.maxAbs}`).toBeLessThanOrEqual(1e-4);
    const single = interpret(network, reference, undefined, { thresh: 0.24 }).detections as {
      classId: number;
      probability: number;
    }[];
    const got = result.detections as { classId: number; probability: number }[];
    expect(got.map((x) => x.classId)).toEqual(single.map((x) => x.classId));
    got.forEach((x, i) => expect(Math.abs(x.probability - single[i]!.probability)).toBeLessThanOrEqual(1e-4));
  }

  /** A valid request (chunked when maxPacketBytes is small) is served correctly. */
  async function expectServes(maxPacketBytes?: number): Promise<void> {
    const id = nextId("ok");
    await (maxPacketBytes ? chunkingTo(maxPacketBytes) : bus).publish(topics.infer(id), tensorFrame(id));
    await expectCorrect(id);
  }

  /** The first task of `workerId` that needs nothing kept from an earlier one. */
  const firstTask = (workerId: string): Task => tasksOf(schedule, workerId).find((t) => !t.held)!;
  const outputFrame = (jobId: string, task: Task) => {
    const { c, h, w } = task.output;
    return encodeFrame(
      { jobId, layer: task.layer, part: task.part, shape: [c, h, w] },
      new Float32Array(shapeSize(task.output)),
    );
  };

  // ---------------------------------------------------------------------------

  describe("source, infer/<id>", () => {
    const frameBytes = () => 128 + 4 * shapeSize(network.input);
    const cases: { label: string; payload: (id: string) => Buffer; code: string; problem: () => RegExp }[] = [
      {
        label: "a text file",
        payload: () => Buffer.from("detections please\n"),
        code: "input",
        problem: () => literal(`not a JPEG or PNG: 18 bytes starting 64 65 74 65 63 74 69 6f … ("detectio")`),
      },
      {
        label: "an empty payload",
        payload: () => Buffer.alloc(0),
        code: "input",
        problem: () => literal("empty request: send JPEG or PNG bytes, or a tensor frame"),
      },
      {
        label: "a truncated JPEG",
        payload: () => dog.subarray(0, 20_000),
        code: "input",
        problem: () => literal("corrupt or truncated JPEG (20000 bytes): "),
      },
      {
        label: "a tensor frame with the wrong magic",
        payload: (id) => patched(tensorFrame(id), (b) => b.write("EFT9", 0, "latin1")),
        code: "input",
        problem: () => literal(`not a JPEG or PNG: ${frameBytes()} bytes starting 45 46 54 39`),
      },
      {
        label: "a frame cut inside its header",
        payload: (id) => tensorFrame(id).subarray(0, 64),
        code: "wire",
        problem: () => literal("truncated frame: 64 bytes, the header alone is 128"),
      },
      {
        label: "a frame missing the end of its data",
        payload: (id) => tensorFrame(id).subarray(0, frameBytes() - 400),
        code: "wire",
        problem: () => literal(`header says ${frameBytes() - 128} payload bytes, frame carries ${frameBytes() - 528}`),
      },
      {
        label: "a frame of an unknown version",
        payload: (id) => patched(tensorFrame(id), (b) => b.writeUInt16LE(2, 4)),
        code: "wire",
        problem: () => literal("unsupported frame version 2, this build reads 1"),
      },
      {
        label: "a frame of an unknown dtype",
        payload: (id) => patched(tensorFrame(id), (b) => b.writeUInt8(7, 6)),
        code: "wire",
        problem: () => literal("unknown dtype code 7"),
      },
      {
        label: "a frame of another size",
        payload: (id) =>
          encodeFrame({ jobId: id, layer: 0, part: 0, shape: [3, 48, 48] }, new Float32Array(3 * 48 * 48)),
        code: "input",
        problem: () => literal("tensor [3, 48, 48] is not the network's input 3×96×96"),
      },
      {
        label: "a frame in height-width-channel order",
        payload: (id) => encodeFrame({ jobId: id, layer: 0, part: 0, shape: [96, 96, 3] }, input),
        code: "input",
        problem: () => literal("tensor [96, 96, 3] is not the network's input 3×96×96"),
      },
    ];

    it.each(cases)(
      "$label → errors/<id> names the topic and the problem; the next request is served",
      async ({ payload, code, problem }) => {
        const id = nextId("bad");
        await publish(topics.infer(id), payload(id));
        const e = await errorFor(id);
        expect(e).toMatchObject({ requestId: id, code, where: `source source: request ${id}` });
        expect(e.message).toMatch(new RegExp(`^${literal(`${topics.infer(id)}: `).source}${problem().source}`));
        await expectServes();
      },
    );

    it("a chunk with a bad header → errors/<id>; chunked requests are still rebuilt and served", async () => {
      const id = nextId("bad");
      const topic = chunkTopic(topics.infer(id), 0);
      await publish(topic, junkChunk());
      const e = await errorFor(id);
      expect(e).toMatchObject({
        requestId: id,
        code: "wire",
        message: `${topic}: bad chunk magic "JUNK", expected "EFC1"`,
      });
      await expectServes(32 * 1024);
    });

    it("a request whose id is not an id → logged (there is no errors topic to answer on)", async () => {
      const topic = `${topics.prefix}infer/not an id!`;
      const from = logs.mark();
      await publish(topic, dog);
      await logs.waitFor(literal(`source source: ignored a request on ${topic}: `), from);
      await expectServes();
    });
  });

  // ---------------------------------------------------------------------------

  describe("source, job/+/layer/+/part/+/out", () => {
    it("a garbage frame for a job that is not running → a log line and nothing else", async () => {
      const ghost = nextId("ghost");
      const topic = topics.partOut(ghost, 0, 0);
      const from = logs.mark();
      await publish(topic, "not a frame at all, too short anyway");
      await logs.waitFor(literal(`source source: bad output on ${topic}: ${topic}: truncated frame: 36 bytes`), from);
      await expectServes();
      // Nothing went to errors/<ghost>: the served request above was published after the garbage.
      expect(inboxOf(ghost).items).toEqual([]);
    });

    it("a garbage frame for the running job fails it at once, not at its deadline", async () => {
      const id = nextId("running");
      const task = firstTask(HELD);
      const held = hold.holdNext();
      await publish(topics.infer(id), tensorFrame(id));
      await held.held; // worker-held sits on its part of the job's first stage
      const topic = topics.partOut(id, task.layer, task.part);
      try {
        await publish(
          topic,
          patched(outputFrame(id, task), (b) => b.write("JUNK", 0, "latin1")),
        );
        // The job's deadline is 30 s; the worker is still held, so only the bad frame can end it.
        const e = await errorFor(id, 5_000);
        expect(e).toEqual({
          requestId: id,
          code: "wire",
          from: { role: "source", deviceId: "source" },
          where: `source source: request ${id}`,
          message: `${topic}: bad magic "JUNK", expected "EFT1"`,
        });
      } finally {
        held.release();
      }
      await expectServes();
    });

    it("a frame on another job's topic whose header names the running job → refused; the job finishes correctly", async () => {
      const id = nextId("running");
      const task = firstTask(HELD);
      const held = hold.holdNext();
      await publish(topics.infer(id), tensorFrame(id));
      await held.held;
      const ghost = nextId("ghost");
      const topic = topics.partOut(ghost, task.layer, task.part);
      const from = logs.mark();
      try {
        // A well-formed frame of the right shape, all zeros, that claims to be the running job's output.
        await publish(topic, outputFrame(id, task));
        await logs.waitFor(
          literal(
            `source source: bad output on ${topic}: ${topic}: frame is for job ${id} layer ${task.layer} part ${task.part}, the topic for job ${ghost} layer ${task.layer} part ${task.part}`,
          ),
          from,
        );
      } finally {
        held.release();
      }
      await expectCorrect(id);
    });

    it("a frame of the wrong shape for the running job fails it with a clear error", async () => {
      const id = nextId("running");
      const task = firstTask(HELD);
      const held = hold.holdNext();
      await publish(topics.infer(id), tensorFrame(id));
      await held.held;
      const topic = topics.partOut(id, task.layer, task.part);
      const { c, h, w } = task.output;
      try {
        // The right number of floats in the wrong layout.
        await publish(
          topic,
          encodeFrame({ jobId: id, layer: task.layer, part: task.part, shape: [h, w, c] }, new Float32Array(c * h * w)),
        );
        const e = await errorFor(id, 5_000);
        expect(e).toMatchObject({
          requestId: id,
          code: "wire",
          message: `${topic}: output [${h}, ${w}, ${c}] is not the task's ${c}×${h}×${w}`,
        });
      } finally {
        held.release();
      }
      await expectServes();
    });
  });

  // ---------------------------------------------------------------------------

  describe("planner, shard-requests/<id>", () => {
    it.each([
      [
        "bytes that are not JSON",
        () => topics.shardRequest("worker-1"),
        "shard please",
        (t: string) => `${t}: payload is not JSON: `,
      ],
      [
        "JSON that fails the request schema",
        () => topics.shardRequest("worker-1"),
        JSON.stringify({ sha256: "AB" }),
        (t: string) => `${t}: field sha256: expected 64 lowercase hex digits`,
      ],
      [
        "a topic whose device id is not an id",
        () => `${topics.prefix}shard-requests/not an id!`,
        JSON.stringify({ sha256: "ab".repeat(32) }),
        (t: string) => `${t}: not a shard request topic: `,
      ],
    ])("%s → logged by the planner", async (_label, topic, payload, problem) => {
      const from = logs.mark();
      await publish(topic(), payload);
      await logs.waitFor(literal(`ignored a shard request: ${problem(topic())}`), from);
      await expectServes();
    });

    it("a request for a shard the plan in force does not name → an empty answer on the device's shard topic, and a log line", async () => {
      const sha = "cd".repeat(32);
      const answers = inbox<Buffer>();
      const sub = await bus.subscribe(topics.deviceShard("ghost-device", sha), {
        onMessage: (_t, p) => answers.push(p),
        onError: (err) => logs.push(`test client: ${err.message}`),
      });
      try {
        const from = logs.mark();
        await publish(topics.shardRequest("ghost-device"), JSON.stringify({ sha256: sha }));
        expect((await answers.next(5_000, "the planner's answer")).byteLength).toBe(0);
        await logs.waitFor(
          literal(
            `ghost-device asked for shard ${sha.slice(0, 12)}…, which the plan in force does not name: answered empty`,
          ),
          from,
        );
      } finally {
        await sub.unsubscribe();
      }
      await expectServes();
    });
  });

  // ---------------------------------------------------------------------------

  describe("source and planner, workers/+", () => {
    it.each([
      ["bytes that are not JSON", Buffer.from([0x7b, 0xff, 0xfe]), "payload is not UTF-8 text (3 bytes)"],
      ["text that is not JSON", Buffer.from('{"workerId": '), "payload is not JSON: "],
      [
        "JSON that fails the presence schema",
        Buffer.from(JSON.stringify({ workerId: "worker-1", memoryBudgetBytes: -1, gmacPerSec: 50 })),
        "field memoryBudgetBytes: ",
      ],
    ])("%s → logged by both; the roster stays as it was", async (_label, payload, problem) => {
      const roster = new Map(system.planner.roster);
      // On a new worker's topic and on a present worker's (not retained: the broker keeps the real presence).
      for (const workerId of [nextId("ghost"), "worker-1"]) {
        const topic = topics.worker(workerId);
        const from = logs.mark();
        await publish(topic, payload);
        await logs.waitFor(literal(`source source: ignored a presence on ${topic}: ${topic}: ${problem}`), from);
        await logs.waitFor(literal(`ignored a message: ${topic}: ${problem}`), from);
      }
      expect(system.planner.roster).toEqual(roster);
      expect(system.planner.current()?.id).toBe(plan.id);
      await expectServes();
    });
  });

  // ---------------------------------------------------------------------------

  describe("chunk topics of the subscriptions that only log", () => {
    it.each([
      [
        "workers/<id>/c/0",
        () => topics.worker(nextId("ghost")),
        ["source source: ignored a presence on ", "ignored a message: "],
      ],
      [
        "job/<id>/layer/<l>/part/<p>/out/c/0",
        () => topics.partOut(nextId("ghost"), 0, 0),
        ["source source: ignored an output on "],
      ],
      ["errors/<id>/c/0", () => topics.errors(nextId("report")), ["source source: ignored an error report on "]],
    ] as const)("a chunk with a bad header on %s → logged", async (_label, base, readers) => {
      const topic = chunkTopic(base(), 0);
      const from = logs.mark();
      await publish(topic, junkChunk());
      const problem = `${topic}: bad chunk magic "JUNK", expected "EFC1"`;
      // The source names the topic before the problem (which names it again); the planner does not repeat it.
      for (const reader of readers)
        await logs.waitFor(
          new RegExp(`^${literal(reader).source}(${literal(topic).source}: )?${literal(problem).source}`),
          from,
        );
      await expectServes();
    });
  });

  // ---------------------------------------------------------------------------

  describe("source, errors/+", () => {
    it.each([
      ["JSON that fails the error schema", JSON.stringify({ requestId: "x", code: "wire" }), "field message: "],
      ["bytes that are not JSON", "<error/>", "payload is not JSON: "],
    ])("%s → logged", async (_label, payload, problem) => {
      const topic = topics.errors(nextId("report"));
      const from = logs.mark();
      await publish(topic, payload);
      await logs.waitFor(literal(`source source: ignored an error report on ${topic}: ${topic}: ${problem}`), from);
      await expectServes();
    });
  });

  // ---------------------------------------------------------------------------

  describe("source and workers, plan", () => {
    const other = () => readFileSync(cfgPath("yolov2-tiny"), "utf8");
    const cases: [string, () => Buffer | string, () => RegExp][] = [
      ["bytes that are not JSON", () => "plan: yes", () => literal(`${topics.plan()}: not JSON: `)],
      [
        "JSON that fails the plan schema",
        () => JSON.stringify({ ...plan, devices: [] }),
        () => literal(`${topics.plan()}: field devices: `),
      ],
      [
        "a plan of an unknown version",
        () => JSON.stringify({ ...plan, version: 2, id: "00000000000000b2" }),
        () => literal(`${topics.plan()}: field version: `),
      ],
      [
        "a plan for another network",
        () => JSON.stringify({ ...plan, model: { ...plan.model, cfg: other() }, id: "00000000000000b3" }),
        () =>
          literal(
            `plan 00000000000000b3 was made for model '${plan.model.name}' (${plan.model.layers} layers), not for plan 00000000000000b3 cfg (`,
          ),
      ],
    ];

    it.each(cases)(
      "%s (retained) → logged by the source and every worker; the plan in force stays",
      async (_label, payload, problem) => {
        const from = logs.mark();
        await publish(topics.plan(), payload(), true);
        await logs.waitFor(new RegExp(`^source source: ignored a plan: ${problem().source}`), from);
        for (const worker of ["worker-1", HELD])
          await logs.waitFor(new RegExp(`^worker ${worker}: ${problem().source}`), from);
        expect(system.source.readyPlanId()).toBe(plan.id);
        expect(heldWorker.readyPlanId()).toBe(plan.id);
        await expectServes();
      },
    );

    it("a chunk with a bad header on plan/c/0 → logged by the source and every worker", async () => {
      const topic = chunkTopic(topics.plan(), 0);
      const from = logs.mark();
      await publish(topic, junkChunk());
      const problem = literal(`${topic}: bad chunk magic "JUNK", expected "EFC1"`).source;
      await logs.waitFor(
        new RegExp(`^${literal(`source source: ignored a plan on ${topic}: `).source}${problem}`),
        from,
      );
      for (const worker of ["worker-1", HELD])
        await logs.waitFor(new RegExp(`^worker ${worker}: ignored a plan message: ${problem}`), from);
      await expectServes();
    });

    it("after them the planner's plan, published again, is followed and served", async () => {
      expect(await system.replan(PLANNING)).toBe(plan.id);
      await expectServes();
    });
  });

  // ---------------------------------------------------------------------------

  describe("workers, job/<id>/layer/<l>/part/<p>/in", () => {
    type Case = {
      label: string;
      frame: (jobId: string, task: Task) => Buffer;
      code: string;
      problem: (jobId: string, task: Task) => string;
    };
    const validFrame = (
      jobId: string,
      task: Task,
      meta: Partial<{ jobId: string; layer: number; part: number }> = {},
    ) => {
      const { c, h, w } = task.receives;
      return encodeFrame(
        { jobId, layer: task.layer, part: task.part, shape: [c, h, w], ...meta },
        new Float32Array(shapeSize(task.receives)),
      );
    };
    const cases: Case[] = [
      {
        label: "a frame with the wrong magic",
        frame: (j, t) => patched(validFrame(j, t), (b) => b.write("JUNK", 0, "latin1")),
        code: "wire",
        problem: () => `bad magic "JUNK", expected "EFT1"`,
      },
      {
        label: "a truncated frame",
        frame: (j, t) => validFrame(j, t).subarray(0, 128 + 100),
        code: "wire",
        problem: (_j, t) => `header says ${4 * shapeSize(t.receives)} payload bytes, frame carries 100`,
      },
      {
        label: "a frame of another size",
        frame: (j, t) => encodeFrame({ jobId: j, layer: t.layer, part: t.part, shape: [1, 2, 3] }, new Float32Array(6)),
        code: "shape",
        problem: (_j, t) => `frame shape [1, 2, 3] is not the task's ${t.receives.c}×${t.receives.h}×${t.receives.w}`,
      },
      {
        label: "a frame in another layout",
        frame: (j, t) =>
          encodeFrame(
            { jobId: j, layer: t.layer, part: t.part, shape: [t.receives.h, t.receives.w, t.receives.c] },
            new Float32Array(shapeSize(t.receives)),
          ),
        code: "shape",
        problem: (_j, t) =>
          `frame shape [${t.receives.h}, ${t.receives.w}, ${t.receives.c}] is not the task's ${t.receives.c}×${t.receives.h}×${t.receives.w}`,
      },
      {
        label: "a frame whose header names another job",
        frame: (j, t) => validFrame(j, t, { jobId: "someone-else" }),
        code: "wire",
        problem: (j, t) =>
          `frame is for job someone-else layer ${t.layer} part ${t.part}, the topic for job ${j} layer ${t.layer} part ${t.part}`,
      },
      {
        label: "a frame whose header names another layer and part",
        frame: (j, t) => validFrame(j, t, { layer: t.layer + 1, part: t.part + 1 }),
        code: "wire",
        problem: (j, t) =>
          `frame is for job ${j} layer ${t.layer + 1} part ${t.part + 1}, the topic for job ${j} layer ${t.layer} part ${t.part}`,
      },
    ];

    it.each(cases)("$label → errors/<jobId> from the worker; it keeps serving", async ({ frame, code, problem }) => {
      const task = firstTask("worker-1");
      const jobId = nextId("job");
      const topic = topics.partIn(jobId, task.layer, task.part);
      await publish(topic, frame(jobId, task));
      const e = await errorFor(jobId);
      expect(e).toEqual({
        requestId: jobId,
        code,
        from: { role: "worker", deviceId: "worker-1" },
        where: `worker worker-1: job ${jobId} layer ${task.layer} part ${task.part}`,
        message: `${topic}: ${problem(jobId, task)}`,
      });
      await expectServes();
    });

    it("a chunk with a bad header on a task's chunk topic → errors/<jobId>; chunked tasks still arrive", async () => {
      const task = firstTask("worker-1");
      const jobId = nextId("job");
      const topic = chunkTopic(topics.partIn(jobId, task.layer, task.part), 0);
      await publish(topic, junkChunk());
      const e = await errorFor(jobId);
      expect(e).toEqual({
        requestId: jobId,
        code: "wire",
        from: { role: "worker", deviceId: "worker-1" },
        where: "worker worker-1",
        message: `${topic}: bad chunk magic "JUNK", expected "EFC1"`,
      });
      // A whole task input, in chunks, on the same subscription: the worker answers with its output.
      const outs = inbox<Buffer>();
      const sub = await bus.subscribe(topics.partOut(jobId, task.layer, task.part), {
        onMessage: (_t, p) => outs.push(p),
        onError: (err) => logs.push(`test client: ${err.message}`),
      });
      try {
        await chunkingTo(16 * 1024).publish(topics.partIn(jobId, task.layer, task.part), validFrame(jobId, task));
        expect((await outs.next(5_000, "task output")).byteLength).toBe(128 + 4 * shapeSize(task.output));
      } finally {
        await sub.unsubscribe();
      }
      await expectServes();
    });

    it("a task topic whose job id is not an id → logged", async () => {
      const task = firstTask("worker-1");
      const topic = `${topics.prefix}job/not an id!/layer/${task.layer}/part/${task.part}/in`;
      const from = logs.mark();
      await publish(topic, validFrame("x", task));
      await logs.waitFor(literal(`worker worker-1: ignored a task on ${topic}: `), from);
      await expectServes();
    });

    it("a weight shard whose bytes are not its topic's → logged; the worker follows the next plan", async () => {
      const task = firstTask(HELD);
      const sha = "ab".repeat(32);
      const withBadShard = structuredClone(plan);
      withBadShard.id = "00000000000000d1";
      const step = withBadShard.steps.find((s) => s.layer === task.layer) as PartitionedStep;
      step.parts.find((p) => p.part === task.part)!.shard = sha;
      const from = logs.mark();
      // Retained, so it reaches the worker as soon as it subscribes, before the planner's answer.
      const topic = topics.deviceShard(HELD, sha);
      try {
        await publish(topic, "not the shard you are looking for", true);
        await publish(topics.plan(), JSON.stringify(withBadShard), true);
        await logs.waitFor(
          new RegExp(`^${literal(`worker ${HELD}: ${topic}: content hash is `).source}[0-9a-f]{12}…, not the topic's$`),
          from,
        );
        expect(await system.replan(PLANNING)).toBe(plan.id);
      } finally {
        await publish(topic, Buffer.alloc(0), true);
      }
      await expectServes();
    });

    it("a task for a layer/part the worker no longer has (the plan changed while it was queued) → errors/<jobId>", async () => {
      const task = firstTask(HELD);
      // Keep worker-held busy on a task, so what follows queues behind it.
      const held = hold.holdNext();
      const busy = nextId("busy");
      await publish(topics.partIn(busy, task.layer, task.part), validFrame(busy, task));
      await held.held;
      // A plan that moves this part to the source, then an input for the part: the worker
      // gets both in this order, on subscriptions of the plan it still follows.
      const moved = structuredClone(plan);
      moved.id = "00000000000000c1";
      const step = moved.steps.find((s) => s.layer === task.layer) as PartitionedStep;
      step.parts.find((p) => p.part === task.part)!.workerId = "source";
      const jobId = nextId("job");
      const topic = topics.partIn(jobId, task.layer, task.part);
      // The broker has the input once publish resolves, the worker only a moment later:
      // release the held run only when the input is queued behind the plan.
      const reached = new Promise<void>((resolve) => {
        const stop = heldBus.onPacket((t) => {
          if (t !== topic) return;
          stop();
          resolve();
        });
      });
      try {
        await publish(topics.plan(), JSON.stringify(moved), true);
        await publish(topic, validFrame(jobId, task));
        await reached;
      } finally {
        held.release();
      }
      const e = await errorFor(jobId);
      expect(e).toEqual({
        requestId: jobId,
        code: "wire",
        from: { role: "worker", deviceId: HELD },
        where: `worker ${HELD}: job ${jobId} layer ${task.layer} part ${task.part}`,
        message: `${topic}: no task for layer ${task.layer} part ${task.part} on ${HELD} in plan ${moved.id}`,
      });
      expect(await system.replan(PLANNING)).toBe(plan.id);
      await expectServes();
    });
  });
});

/**
 * A deployment recovers from what used to stop it for good:
 *
 * - an empty message retained on `plan` (every device dropped the plan, and nothing
 *   published it again): the planner, watching its own topic, publishes it again;
 * - a retained presence that no device stands behind (`workers/ghost`, made part of every
 *   plan, which then waited for it): the planner plans without a device that does not
 *   become ready within its bound;
 * - Mosquitto killed while idle and started again without persistence (it forgot every
 *   presence and the plan and sent no will, so a device that came back afterwards never
 *   got the plan): on reconnecting the devices announce themselves again and the planner
 *   publishes its plan again. Measured here: the next request served about 2 s after the
 *   broker listens again (mqtt.js retries every second; the planner settles 250 ms).
 *
 * The planner, the source and two workers run in this process, each on a connection of
 * its own with its last will, as on separate devices; every request's output is checked
 * against the network run on one device.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { connectBus } from "../broker/bus.js";
import { encodeFrame } from "../broker/frame.js";
import { decodeJson, decodePresence, encodeJson, type Presence, presenceSchema } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { createEngine } from "../dnn/engine.js";
import { loadNetwork } from "../dnn/network.js";
import { onnxRuntime } from "../dnn/onnx/runtime.js";
import { openWeights, readWeights } from "../dnn/weights.js";
import type { PlanOptions } from "../planner/build.js";
import { type PlannerActor, startPlanner } from "../planner/actor.js";
import type { Plan } from "../planner/schema.js";
import {
  freePort,
  inbox,
  MOSQUITTO_BIN,
  type Teardown,
  startEmbedded,
  useTeardown,
  waitForPort,
} from "../test/brokers.js";
import { diff } from "../test/compare.js";
import { logBook } from "../test/faults.js";
import { cfgPath, readF32, readOracle } from "../test/fixtures.js";
import { presenceWill } from "./runtime/device.js";
import { resultsSchema, type SourceActor, startSource } from "./source/source.js";
import { startWorker } from "./worker/worker.js";

const DEPLOYMENT = "recovery";
const topics = topicsFor(DEPLOYMENT);
/** Every device takes a part (least C), so a plan waits for every device present. */
const PLANNING: Partial<Omit<PlanOptions, "devices">> = { strategy: "lop", ftpEnd: 0, objective: "comm" };
const WORKERS = ["worker-1", "worker-2"];
const DEVICES = ["source", ...WORKERS];
/** The planner's bound in these suites: a device silent this long is left out. */
const READY_TIMEOUT_MS = 2_000;
/** How long a request waits for a plan whose devices are all ready, well past the bound (and the old behaviour's outage). */
const PLAN_WAIT_MS = 15_000;

const oracle = readOracle("yolov2-mini-s7-dog");
const network = loadNetwork(cfgPath("yolov2-mini"));
const weightsPath = join(oracle.dir, oracle.weights);
const input = readF32(join(oracle.dir, oracle.input_file));
let reference: Float32Array;

beforeAll(async () => {
  const engine = await createEngine(network, readWeights(weightsPath, network));
  reference = (await engine.forward(input)).output;
  await engine.release();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `condition` holds, checking every 20 ms; fails naming `what` after timeoutMs. */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

const deviceIds = (plan: Plan | undefined) => plan?.devices.map((d) => d.workerId) ?? [];

/** The deployment on the broker at `url`, started as `edgefuse up` starts it, and a client that sends it requests. */
async function startDeployment(url: string, teardown: Teardown, logs: ReturnType<typeof logBook>) {
  const runtime = onnxRuntime();
  const outputs = new Map<string, Float32Array>();
  const device = { runtime, deployment: DEPLOYMENT, gmacPerSec: 50, memoryBudgetBytes: 1e9, baselineBytes: 0 };
  const deviceBus = async (id: string) => {
    const bus = await connectBus(url, { clientId: `${DEPLOYMENT}-${id}`, will: presenceWill(topics, id) });
    teardown.client(bus.client);
    return bus;
  };
  const worker = async (workerId: string) => {
    const bus = await deviceBus(workerId);
    const actor = await startWorker({ ...device, bus, workerId, log: logs.push });
    teardown.add(() => actor.stop());
    return { actor, bus };
  };
  const workers = new Map(await Promise.all(WORKERS.map(async (id) => [id, await worker(id)] as const)));
  const source: SourceActor = await startSource({
    ...device,
    bus: await deviceBus("source"),
    sourceId: "source",
    planWaitMs: PLAN_WAIT_MS,
    log: logs.push,
    onOutput: (id, output) => outputs.set(id, output),
  });
  teardown.add(() => source.stop());
  const weights = openWeights(weightsPath, network);
  teardown.add(() => weights.close());
  const plannerBus = await connectBus(url, { clientId: `${DEPLOYMENT}-planner` });
  teardown.client(plannerBus.client);
  const planner: PlannerActor = await startPlanner({
    bus: plannerBus,
    deployment: DEPLOYMENT,
    network,
    weights,
    planning: PLANNING,
    minDevices: DEVICES.length,
    readyTimeoutMs: READY_TIMEOUT_MS,
    log: (line) => logs.push(`planner: ${line}`),
  });
  teardown.add(() => planner.stop());
  await source.ready(60_000);

  const client = await connectBus(url, { clientId: `${DEPLOYMENT}-client` });
  teardown.client(client.client);
  const replies = new Map<string, ReturnType<typeof inbox<{ kind: string; payload: Buffer }>>>();
  const inboxOf = (id: string) => replies.get(id) ?? replies.set(id, inbox()).get(id)!;
  await client.subscribe([topics.filters.results(), topics.filters.errors()], {
    onMessage: (topic, payload) => {
      const at = topics.parse(topic);
      if (at?.kind === "results" || at?.kind === "errors") inboxOf(at.requestId).push({ kind: at.kind, payload });
    },
    onError: (err) => logs.push(`test client: ${err.message}`),
  });

  return {
    planner,
    source,
    workers,
    client,
    /**
     * Starts worker `id` again, as a device restarted (a new process, a new startedAt):
     * resolves once the planner has planned without it and then, with it back, every
     * device is ready for the plan.
     */
    async restartWorker(id: string) {
      const old = workers.get(id)!;
      await old.actor.stop();
      await old.bus.close();
      await until(() => !deviceIds(planner.current()).includes(id), `a plan without ${id}`);
      const started = await worker(id);
      workers.set(id, started);
      await until(() => {
        const now = planner.current();
        return (
          deviceIds(now).includes(id) && started.actor.readyPlanId() === now?.id && source.readyPlanId() === now?.id
        );
      }, `${id} back in a plan every device is ready for`);
    },
    /** Sends one request and expects its result: the single-device output, on a plan of these devices. */
    async expectServed(requestId: string, devices = DEVICES, timeoutMs = PLAN_WAIT_MS + 10_000): Promise<void> {
      const frame = encodeFrame(
        { jobId: requestId, layer: 0, part: 0, shape: [network.input.c, network.input.h, network.input.w] },
        input,
      );
      await client.publish(topics.infer(requestId), frame);
      const reply = await inboxOf(requestId).next(timeoutMs, `reply to ${requestId}`);
      expect(reply.kind, reply.payload.toString()).toBe("results");
      const result = decodeJson(topics.results(requestId), reply.payload, resultsSchema);
      const plan = planner.current();
      expect(result.planId).toBe(plan?.id);
      expect(deviceIds(plan).sort()).toEqual([...devices].sort());
      // Within what float16 on the wire keeps (a plan may choose it): computed, not zeros
      // or another request's; the accuracy of each wire type is the correctness suites' concern.
      const d = diff(outputs.get(requestId)!, reference);
      expect(d.relative, `max |a−b| = ${d.maxAbs}`).toBeLessThanOrEqual(1e-2);
    },
  };
}

/** Everything retained under the deployment that a client connecting now is handed, until 300 ms pass quietly. */
async function retainedOn(url: string): Promise<{ plan: string | undefined; presences: Map<string, Presence> }> {
  const bus = await connectBus(url, { clientId: `watcher-${Math.random().toString(36).slice(2, 8)}` });
  let plan: string | undefined;
  const presences = new Map<string, Presence>();
  let quiet: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      quiet = setTimeout(resolve, 300);
      bus
        .subscribe(topics.filters.all, {
          onMessage: (topic, payload, { retain }) => {
            if (!retain || payload.byteLength === 0) return;
            const at = topics.parse(topic);
            if (at?.kind === "plan") plan = payload.toString();
            const presence = at?.kind === "worker" ? decodePresence(topic, payload) : null;
            if (presence) presences.set(presence.workerId, presence);
            quiet?.refresh();
          },
          onError: reject,
        })
        .catch(reject);
    });
  } finally {
    clearTimeout(quiet);
    await bus.close();
  }
  return { plan, presences };
}

describe("a deployment recovering on the embedded broker", () => {
  const teardown = useTeardown("all");
  const logs = logBook();
  let url: string;
  let d: Awaited<ReturnType<typeof startDeployment>>;

  beforeAll(async () => {
    url = teardown.broker(await startEmbedded()).url;
    d = await startDeployment(url, teardown, logs);
    await d.expectServed("first");
  });

  it("an empty message retained on the plan topic: the planner publishes its plan again and the next request is served", async () => {
    const plan = d.planner.current()!;
    const from = logs.mark();
    await d.client.client.publishAsync(topics.plan(), Buffer.alloc(0), { qos: 1, retain: true });
    // Every device lets the plan go; the planner publishes it again; they prepare it again.
    await until(() => d.source.readyPlanId() === undefined, "the source letting the plan go", 5_000);
    await logs.waitFor(/^planner: the plan topic held an empty message \(the plan cleared\), not plan /, from);
    await d.expectServed("after-empty-plan");
    expect(d.planner.current()?.id).toBe(plan.id);
    expect((await retainedOn(url)).plan).toBe(JSON.stringify(plan));
  });

  it("a retained presence no device stands behind: the planner plans without it after its bound and requests are served", async () => {
    const ghost = await connectBus(url, { clientId: "ghost" });
    const presence = {
      workerId: "ghost",
      memoryBudgetBytes: 8e9,
      gmacPerSec: 500,
      startedAt: new Date().toISOString(),
      version: "0.1.0",
    };
    await ghost.publish(topics.worker("ghost"), encodeJson(presenceSchema, presence), { retain: true });
    await ghost.close(); // no will: the presence stays retained
    teardown.add(() => d.client.publish(topics.worker("ghost"), Buffer.alloc(0), { retain: true }));
    await until(() => deviceIds(d.planner.current()).includes("ghost"), "a plan with the ghost");
    const haunted = d.planner.current()!;
    await d.expectServed("despite-ghost");
    await logs.waitFor(
      new RegExp(`^planner: device ghost was not ready for plan ${haunted.id} within ${READY_TIMEOUT_MS} ms`),
      0,
    );
    await d.expectServed("after-ghost");
  });
});

/** Mosquitto without persistence on a port of its own, which a test can restart on that port. */
async function restartableMosquitto(teardown: Teardown) {
  const dir = await mkdtemp(join(tmpdir(), "edgefuse-recovery-"));
  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  await writeFile(conf, [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", ""].join("\n"));
  const launch = async () => {
    const child = spawn(MOSQUITTO_BIN, ["-c", conf], { stdio: "ignore" });
    await waitForPort(port, child);
    return child;
  };
  const stop = async (child: ChildProcess, signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  };
  let child = await launch();
  teardown.add(async () => {
    await stop(child, "SIGTERM");
    await rm(dir, { recursive: true, force: true });
  });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    /** Kills the broker (it forgets everything and sends no will), then starts it again after `downMs`. */
    async restart(downMs: number) {
      await stop(child, "SIGKILL");
      await sleep(downMs);
      child = await launch();
    },
  };
}

describe("a deployment on Mosquitto restarted without persistence", () => {
  const teardown = useTeardown("each");
  const logs = logBook();

  // Killed, as a crash or a power cut stops it: no will is sent. (Stopped gracefully,
  // Mosquitto sends its clients' wills first, and the devices' answer to the cleared
  // plan was to announce themselves, which recovered even before they did so on reconnecting.)
  it("killed while idle: the devices announce themselves again, the plan comes back, and the next requests are served", async () => {
    const broker = await restartableMosquitto(teardown);
    const d = await startDeployment(broker.url, teardown, logs);
    await d.expectServed("before-restart");
    const plan = d.planner.current()!;

    await broker.restart(1_500);
    const back = performance.now();
    // What the broker forgot is back within 10 s of it listening again: every presence, ready for the plan, and the plan.
    let retained = await retainedOn(broker.url);
    while (
      (retained.plan !== JSON.stringify(plan) ||
        DEVICES.some((id) => retained.presences.get(id)?.readyPlanId !== plan.id)) &&
      performance.now() - back < 10_000
    )
      retained = await retainedOn(broker.url);
    expect(retained.plan).toBe(JSON.stringify(plan));
    expect([...retained.presences.values()].map((p) => [p.workerId, p.readyPlanId]).sort()).toEqual(
      DEVICES.map((id) => [id, plan.id]),
    );
    await d.expectServed("after-restart", DEVICES, 10_000);

    // A roster change afterwards: a device restarts (it leaves, the plan goes on without
    // it, it comes back and is given the plan retained again).
    await d.restartWorker("worker-2");
    await d.expectServed("after-worker-restart");
  });
});

/**
 * The broker's side of a lab experiment, run as its own process where the topology
 * puts the broker (topology.ts: the source device, a gateway, or the hub itself; the
 * experiment driver lives in the root namespace and cannot reach the lab's bridge).
 * It runs the broker and the planner, and answers the driver over stdio, one JSON line
 * each way (hub-protocol.ts): "plan" (re-plan and wait until every device is ready)
 * and "infer" (one timed request with the broker's byte counters around it). The
 * source runs beside it or elsewhere as its own process, like every other device.
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { compareTraffic } from "../planner/traffic.js";
import { type Bus, connectBus } from "../broker/bus.js";
import { decodePresence, type Presence } from "../broker/messages.js";
import { startBroker } from "../broker/server.js";
import { topicsFor } from "../broker/topics.js";
import { errorMessage } from "../core/errors.js";
import { loadNetwork } from "../dnn/network.js";
import { openWeights } from "../dnn/weights.js";
import { startPlanner, type PlannerActor } from "../planner/actor.js";
import type { Plan } from "../planner/schema.js";
import {
  HUB_AGENT_ENV,
  HubAgentConfig,
  HubRequest,
  type HubReply,
  type InferReply,
  type PlanReply,
  type PresentReply,
} from "./hub-protocol.js";
import { type ClientTraffic, UNIDENTIFIED_CLIENT, workerClientId } from "../broker/traffic.js";

const config = HubAgentConfig.parse(JSON.parse(process.env[HUB_AGENT_ENV] ?? "null"));
const log = (line: string): void => void process.stderr.write(`hub: ${line}\n`);
const reply = (r: HubReply): void => void process.stdout.write(`${JSON.stringify(r)}\n`);

const network = loadNetwork(config.cfg);
const weights = openWeights(config.weights, network);
const image = readFileSync(config.image);
// Every address of its namespace: devices come over the bridge, what shares the namespace over loopback.
// Anonymous clients trusted: only the lab's own devices reach its namespaces.
const broker = await startBroker({ port: config.port, host: "0.0.0.0", anonymous: "trusted", log });
const topics = topicsFor(config.deployment);
const brokerUrl = `mqtt://127.0.0.1:${broker.port}`;
const { maxPacketBytes } = config;
const AGENT_CLIENT = "lab-hub";
const PLANNER_CLIENT = "lab-planner";
const bus = await connectBus(brokerUrl, { clientId: AGENT_CLIENT, maxPacketBytes });

const presences = new Map<string, Presence>();
await bus.subscribe(topics.filters.worker(), {
  onMessage: (topic, payload) => {
    const parsed = topics.parse(topic);
    if (parsed?.kind !== "worker") return;
    const p = decodePresence(topic, payload);
    if (p) presences.set(parsed.workerId, p);
    else presences.delete(parsed.workerId);
  },
  onError: (err) => log(errorMessage(err)),
});
const answers = new Map<string, (outcome: { ok: boolean; payload: Buffer }) => void>();
const onAnswer = (ok: boolean) => (topic: string, payload: Buffer) => {
  const parsed = topics.parse(topic);
  const requestId = parsed && "requestId" in parsed ? parsed.requestId : undefined;
  if (requestId) answers.get(requestId)?.({ ok, payload });
};
await bus.subscribe(topics.filters.results(), { onMessage: onAnswer(true), onError: (err) => log(errorMessage(err)) });
await bus.subscribe(topics.filters.errors(), { onMessage: onAnswer(false), onError: (err) => log(errorMessage(err)) });

let planner: PlannerActor | undefined;
let plannerBus: Bus | undefined;

async function stopPlanner(): Promise<void> {
  await planner?.stop();
  await plannerBus?.close();
  planner = plannerBus = undefined;
}
let plan: Plan | undefined;

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitForPlan(actor: PlannerActor): Promise<Plan> {
  for (;;) {
    const next = await actor.nextPlan();
    if (next) return next;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms)),
  );
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function allPresent(timeoutMs: number): Promise<PresentReply> {
  await until(`${config.devices} devices present`, () => presences.size >= config.devices, timeoutMs);
  return { op: "present", devices: presences.size };
}

async function replan(request: Extract<HubRequest, { op: "plan" }>): Promise<PlanReply> {
  await allPresent(request.timeoutMs);
  await stopPlanner();
  // Its own connection: the planner subscribes to presence too, and its unsubscribe on
  // stop would end this agent's subscription to the same filter.
  plannerBus = await connectBus(brokerUrl, { clientId: PLANNER_CLIENT, maxPacketBytes });
  planner = await startPlanner({
    bus: plannerBus,
    deployment: config.deployment,
    network,
    weights,
    planning: { ...request.planning, broker: config.broker },
    minDevices: config.devices,
    log,
  });
  // A fresh planner may first settle on "no plan" while the retained presences are
  // still arriving; the plan comes with a later re-plan.
  const next = await withTimeout(
    waitForPlan(planner),
    request.timeoutMs,
    "the planner published no plan for these devices",
  );
  plan = next;
  // Shards travel over the shaped links now; a device is ready once it holds them.
  await until(
    `every device ready for plan ${next.id}`,
    () => next.devices.every((d) => presences.get(d.workerId)?.readyPlanId === next.id),
    request.timeoutMs,
  );
  return {
    op: "plan",
    planId: next.id,
    costBytes: next.cost.bytes,
    devices: next.devices.map((d) => d.workerId),
    shardBytes: next.cost.perDevice.map((d) => d.shardBytes),
    presenceWeightBytes: next.devices.map((d) => presences.get(d.workerId)?.weightBytes ?? null),
    predictedSeconds: next.prediction?.seconds ?? null,
    predictedStages: (next.prediction?.stages ?? []).map((st) => ({
      layers: st.layers,
      ms: st.seconds * 1000,
      bound: st.bound,
    })),
    deviceGmacPerSec: next.devices.map((d) => d.gmacPerSec ?? null),
  };
}

async function infer(request: Extract<HubRequest, { op: "infer" }>): Promise<InferReply> {
  if (!plan) throw new Error("infer before plan");
  const current = plan;
  const answered = new Promise<{ ok: boolean; payload: Buffer }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`request ${request.requestId}: no answer within ${request.timeoutMs / 1000} s`)),
      request.timeoutMs,
    );
    answers.set(request.requestId, (outcome) => {
      clearTimeout(timer);
      resolve(outcome);
    });
  });
  const before = broker.bytes();
  const started = performance.now();
  await bus.publish(topics.infer(request.requestId), image);
  const outcome = await answered.finally(() => answers.delete(request.requestId));
  const latencyMs = performance.now() - started;
  const after = broker.bytes();
  if (!outcome.ok) throw new Error(`request ${request.requestId} failed: ${outcome.payload.toString()}`);
  const workers = current.devices.map((d) => d.workerId).filter((id) => presences.get(id)?.role !== "source");
  const workerClients = workers.map(workerClientId);
  const traffic = compareTraffic(current, before, after, workerClients);
  return {
    op: "infer",
    latencyMs,
    result: JSON.parse(outcome.payload.toString()) as InferReply["result"],
    linkBytes: linkBytesOf(workers, before, after),
    modelledBytes: traffic.modelledBytes,
    measuredBytes: traffic.measuredBytes,
  };
}

/**
 * Bytes that crossed each link during a request: its workers' connections, and the
 * source's (every connection that is neither a worker's nor this agent's own).
 */
function linkBytesOf(
  workers: readonly string[],
  before: Record<string, ClientTraffic>,
  after: Record<string, ClientTraffic>,
): Record<string, number> {
  const delta = (id: string): number =>
    (after[id]?.bytesIn ?? 0) + (after[id]?.bytesOut ?? 0) - (before[id]?.bytesIn ?? 0) - (before[id]?.bytesOut ?? 0);
  const workerClients = new Set(workers.map(workerClientId));
  const own = new Set([AGENT_CLIENT, PLANNER_CLIENT, UNIDENTIFIED_CLIENT]);
  const sourceClients = Object.keys(after).filter((id) => !workerClients.has(id) && !own.has(id));
  const sum = (ids: Iterable<string>): number => [...ids].reduce((a, id) => a + delta(id), 0);
  return Object.fromEntries(
    config.links.map((link) => {
      const theirs = link.workers === "all" ? workerClients : link.workers.map(workerClientId);
      return [link.name, sum(theirs) + (link.source ? sum(sourceClients) : 0)];
    }),
  );
}

reply({ id: 0, ok: true, body: { op: "listening", port: broker.port } });
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let id = -1;
  try {
    const request = HubRequest.parse(JSON.parse(line));
    id = request.id;
    const body =
      request.op === "plan"
        ? await replan(request)
        : request.op === "infer"
          ? await infer(request)
          : await allPresent(request.timeoutMs);
    reply({ id, ok: true, body });
  } catch (err) {
    reply({ id, ok: false, error: errorMessage(err) });
  }
}
// stdin closed: the driver is done with this lab.
await stopPlanner();
await bus.close();
await broker.close();
weights.close();
process.exit(0);

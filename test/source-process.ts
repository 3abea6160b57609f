/**
 * A source as a real process (`bin/edgefuse source`, dist/ rebuilt by vitest's
 * globalSetup) beside a planner in the test's process, on yolov2-mini with seeded
 * synthetic weights: the setting for tests of what a source leaves on the broker when
 * it is killed (its last wills). And a recorder of every message on some filters.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { connectBus } from "../broker/bus.js";
import { connectBroker } from "../broker/client.js";
import { CACHE_DIR } from "../core/paths.js";
import { loadNetwork } from "../dnn/network.js";
import { cachedSyntheticWeights } from "../dnn/synthetic.js";
import { openWeights } from "../dnn/weights.js";
import { type PlannerActor, startPlanner } from "../planner/actor.js";
import { inbox, type Teardown } from "./brokers.js";
import { cfgPath, REPO_ROOT } from "./fixtures.js";

export interface Message {
  readonly topic: string;
  readonly payload: Buffer;
  readonly retain: boolean;
}

/** Every message on `filters`, and a way to wait for the next one on a topic. */
export async function recorder(url: string, filters: string[], teardown: Teardown) {
  const client = teardown.client(await connectBroker(url, { clientId: `rec-${Math.random().toString(16).slice(2)}` }));
  const byTopic = new Map<string, ReturnType<typeof inbox<Message>>>();
  const box = (topic: string) => byTopic.get(topic) ?? byTopic.set(topic, inbox<Message>()).get(topic)!;
  client.on("message", (topic, payload, packet) => box(topic).push({ topic, payload, retain: packet.retain }));
  await client.subscribeAsync(filters, { qos: 1 });
  return {
    client,
    next: (topic: string, timeoutMs = 10_000) => box(topic).next(timeoutMs, `message on ${topic}`),
    /** What came on `topic` and has not been taken by next() yet. */
    pending: (topic: string): readonly Message[] => box(topic).items,
  };
}

/** A planner for `deployment` on yolov2-mini, in this process. */
export async function startMiniPlanner(url: string, deployment: string, teardown: Teardown): Promise<PlannerActor> {
  const network = loadNetwork(cfgPath("yolov2-mini"));
  const weights = openWeights(cachedSyntheticWeights(network, 1, CACHE_DIR).path, network);
  teardown.add(() => weights.close());
  const plannerBus = await connectBus(url, { clientId: `planner-${deployment}` });
  teardown.client(plannerBus.client);
  const planner = await startPlanner({
    bus: plannerBus,
    deployment,
    network,
    weights,
    planning: {},
    log: () => undefined,
  });
  teardown.add(() => planner.stop());
  return planner;
}

/** `edgefuse source` on `url` with `args` after the broker, deployment and memory; SIGKILLed at teardown if still running. */
export function spawnSource(url: string, deployment: string, args: readonly string[], teardown: Teardown) {
  const child: ChildProcess = spawn(
    join(REPO_ROOT, "bin", "edgefuse"),
    ["source", "--broker", url, "--deployment", deployment, "--memory", "512", ...args],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  teardown.add(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"));
  return { child, stderr: () => stderr };
}

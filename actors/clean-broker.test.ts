/**
 * A deployment on a shared broker (a real Mosquitto) leaves it clean. While it runs, a
 * subscriber to `edgefuse/#` is handed the plan and the presences, a few kilobytes, and
 * no weight shard (shards go only to the device that asks, never retained); after one
 * request and a graceful stop it is handed nothing retained at all, but the
 * deployment's availability, `status` = `offline`.
 */
import { join } from "node:path";
import type mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBus } from "../broker/bus.js";
import { connectBroker } from "../broker/client.js";
import { encodeFrame } from "../broker/frame.js";
import { topicsFor } from "../broker/topics.js";
import { loadNetwork, type Network } from "../dnn/network.js";
import { inbox, startMosquitto, type TestBroker } from "../test/brokers.js";
import { cfgPath, readF32, readOracle } from "../test/fixtures.js";
import { type LocalSystem, startLocalSystem } from "./system.js";

const DEPLOYMENT = "shared";
const topics = topicsFor(DEPLOYMENT);

interface Retained {
  readonly topic: string;
  readonly payload: Buffer;
}

/** Everything a fresh client subscribing to `edgefuse/#` is handed as retained, chunks as they are, until 500 ms pass quietly. */
async function retainedOn(url: string): Promise<Retained[]> {
  const client = await connectBroker(url, { clientId: `watcher-${Math.random().toString(36).slice(2, 8)}` });
  const got: Retained[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let quiet = setTimeout(resolve, 500);
      client.on("message", (topic: string, payload: Buffer, packet: mqtt.IPublishPacket) => {
        if (!packet.retain) return;
        got.push({ topic, payload });
        clearTimeout(quiet);
        quiet = setTimeout(resolve, 500);
      });
      client.subscribeAsync("edgefuse/#", { qos: 1 }).catch(reject);
    });
  } finally {
    await client.endAsync();
  }
  return got;
}

const bytesOf = (messages: readonly Retained[]) => messages.reduce((sum, m) => sum + m.payload.byteLength, 0);

describe("a deployment on a shared Mosquitto", () => {
  let broker: TestBroker;
  let system: LocalSystem | undefined;
  let network: Network;
  let input: Float32Array;
  const logs: string[] = [];

  beforeAll(async () => {
    const oracle = readOracle("yolov2-mini-s7-dog");
    network = loadNetwork(cfgPath("yolov2-mini"));
    input = readF32(join(oracle.dir, oracle.input_file));
    broker = await startMosquitto();
    system = await startLocalSystem({
      network,
      weightsPath: join(oracle.dir, oracle.weights),
      devices: 2,
      brokerUrl: broker.url,
      deployment: DEPLOYMENT,
      workers: "inline",
      planning: { strategy: "lop", ftpEnd: 0, objective: "comm" },
      log: (line) => logs.push(line),
    });
    await system.source.ready();
  });
  afterAll(async () => {
    await system?.stop();
    await broker?.close();
  });

  it("keeps only the plan, the presences, the status and the load retained while it runs: no shard", async () => {
    const during = await retainedOn(broker.url);
    const kinds = new Set(during.map((m) => topics.parse(m.topic)?.kind ?? m.topic));
    expect(
      [...kinds].filter((k) => !["plan", "worker", "status", "load"].includes(k)),
      during.map((m) => m.topic).join("\n"),
    ).toEqual([]);
    expect(
      during
        .filter((m) => topics.parse(m.topic)?.kind === "worker")
        .map((m) => m.topic)
        .sort(),
    ).toEqual([topics.worker("source"), topics.worker("worker-1")]);
    // What the workers hold came to them all the same, on request.
    expect(system!.planner.shardsSent()).toBeGreaterThan(0);
    const plan = during.find((m) => m.topic === topics.plan())!;
    console.log(
      `retained on edgefuse/# while running: ${during.length} messages, ${bytesOf(during)} bytes (plan ${plan.payload.byteLength} bytes)`,
    );
  });

  it("after one request and a graceful stop, leaves nothing retained but status = offline", async () => {
    const bus = await connectBus(broker.url, { clientId: "asker" });
    try {
      const answer = inbox<string>();
      await bus.subscribe([topics.results("r1"), topics.errors("r1")], {
        onMessage: (t) => answer.push(t),
        onError: (err) => answer.push(`error: ${err.message}`),
      });
      const { c, h, w } = network.input;
      await bus.publish(topics.infer("r1"), encodeFrame({ jobId: "r1", layer: 0, part: 0, shape: [c, h, w] }, input));
      expect(await answer.next(30_000, "the answer to r1")).toBe(topics.results("r1"));
    } finally {
      await bus.close();
    }

    await system!.stop();
    system = undefined;
    const after = await retainedOn(broker.url);
    const left = after.filter((m) => !(m.topic === topics.status() && m.payload.toString() === "offline"));
    expect(left.map((m) => `${m.topic} (${m.payload.byteLength} bytes)`)).toEqual([]);
    console.log(
      `retained on edgefuse/# after the stop: ${after.map((m) => `${m.topic} = ${m.payload.toString()}`).join(", ") || "nothing"}`,
    );
  });
});

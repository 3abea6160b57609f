/**
 * What edgefuse needs from any MQTT broker, through the Bus every actor uses (bus.ts),
 * as one suite that every broker runs (the embedded aedes, plain Mosquitto, Mosquitto
 * with max_packet_size, Mosquitto over TLS with users and edgefuse's ACL file): every
 * client connects as the role it plays (with that role's user where the broker has
 * users: workers "worker", "w1", "worker-1", "worker-2"); wildcard routing, retained plan and presence, clearing a
 * retained message, last will, and chunked tensors and shards — 8 MB live, 20 MB
 * retained for a late subscriber — arriving byte-exact in packets of at most 256 KiB.
 *
 * Usage, in a *.test.ts file: `brokerContract(() => startMosquitto())`.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { WireError } from "../core/errors.js";
import { sampleImage } from "../core/paths.js";
import { type Bus, connectBus } from "./bus.js";
import { chunkDataBytes, splitIntoChunks } from "./chunking.js";
import type { ConnectOptions } from "./client.js";
import { decodeFrame, frameParts } from "./frame.js";
import { anyResultSchema, decodeJson, decodePresence, encodeJson, presenceSchema, type Presence } from "./messages.js";
import { chunkTopic, topicsFor } from "./topics.js";
import { DEFAULT_MAX_PACKET_BYTES } from "./client.js";
import type { UserRole } from "./auth.js";
import {
  inbox,
  loginOptions,
  MOSQUITTO_PUB_BIN,
  type StartTestBroker,
  type TestBroker,
  useTeardown,
} from "./test-support.js";

/** Packet size every transfer here is chunked to (and the limited Mosquitto enforces). */
export const CONTRACT_MAX_PACKET_BYTES = DEFAULT_MAX_PACKET_BYTES;

/** Who a contract client is: a role, and a device's id for a device that acts as itself. */
type Who = readonly [role: UserRole, deviceId?: string];

interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

export function brokerContract(start: StartTestBroker): void {
  let broker: TestBroker;
  const brokers = useTeardown("all");
  const teardown = useTeardown("each");
  let nextId = 0;
  /** A fresh deployment per test, so retained messages of one test never reach another. */
  const freshTopics = () => topicsFor(`contract-${process.pid}-${Date.now()}-${nextId++}`);
  /** A client as `who`: a role, and a device's id (on a broker with users, that role's user). */
  const connect = async (who: Who, options: Partial<ConnectOptions> = {}): Promise<Bus> => {
    const [role, deviceId] = who;
    const bus = await connectBus(broker.url, {
      clientId: `${deviceId ?? role}-${process.pid}-${nextId++}`,
      maxPacketBytes: CONTRACT_MAX_PACKET_BYTES,
      ...loginOptions(broker.login?.(role, deviceId)),
      ...options,
    });
    teardown.client(bus.client);
    return bus;
  };
  const receive = async (who: Who, filter: string, options: { idleTimeoutMs?: number } = {}) => {
    const bus = await connect(who);
    const messages = inbox<Received>();
    const errors = inbox<Error>();
    await bus.subscribe(filter, {
      ...options,
      onMessage: (topic, payload, { retain }) => messages.push({ topic, payload, retain }),
      onError: (err) => errors.push(err),
    });
    return { bus, messages, errors };
  };

  beforeAll(async () => {
    broker = brokers.broker(await start());
  });

  describe("contract", () => {
    it("routes job tensors by wildcard filter, and nothing else", async () => {
      const topics = freshTopics();
      const sink = await receive(["source"], topics.filters.partOut({ jobId: "j1" }));
      const worker = await connect(["worker"]);
      await worker.publish(topics.partIn("j1", 3, 0), "not for the source");
      await worker.publish(topics.partOut("j2", 3, 0), "other job");
      for (const part of [0, 1, 2]) await worker.publish(topics.partOut("j1", 3, part), `p${part}`);

      const got = [await sink.messages.next(), await sink.messages.next(), await sink.messages.next()];
      expect(got.map((m) => [topics.parse(m.topic), m.payload.toString()])).toEqual(
        [0, 1, 2].map((part) => [
          { kind: "partOut", deployment: topics.deployment, jobId: "j1", layer: 3, part, chunkIndex: null },
          `p${part}`,
        ]),
      );
      await expect(sink.messages.next(300)).rejects.toThrow(/no message within 300 ms/);
    });

    it("keeps the retained plan for a late subscriber, and an empty retained payload clears it", async () => {
      const topics = freshTopics();
      const planner = await connect(["planner"]);
      await planner.publish(topics.plan(), '{"version":1}', { retain: true });

      const late = await receive(["worker"], topics.plan());
      const plan = await late.messages.next();
      expect([plan.payload.toString(), plan.retain]).toEqual(['{"version":1}', true]);

      await planner.clearRetained(topics.plan());
      const cleared = await late.messages.next(); // the live (empty) clear
      expect([cleared.payload.length, cleared.retain]).toEqual([0, false]);
      const later = await receive(["worker"], topics.plan());
      await expect(later.messages.next(300)).rejects.toThrow();
    });

    it("empties a worker's retained presence through its last will when its link drops", async () => {
      const topics = freshTopics();
      const presence: Presence = {
        workerId: "w1",
        memoryBudgetBytes: 64 * 1024 * 1024,
        gmacPerSec: 50,
        startedAt: new Date().toISOString(),
        version: "0.1.0",
        role: "worker",
      };
      const worker = await connect(["worker", "w1"], {
        will: { topic: topics.worker("w1"), payload: "", retain: true },
      });
      await worker.publish(topics.worker("w1"), encodeJson(presenceSchema, presence), { retain: true });

      const planner = await receive(["planner"], topics.filters.worker());
      const announced = await planner.messages.next();
      expect(decodePresence(announced.topic, announced.payload)).toEqual(presence);

      worker.client.stream.destroy(); // the link drops without DISCONNECT: the will fires
      const gone = await planner.messages.next();
      expect([gone.topic, decodePresence(gone.topic, gone.payload)]).toEqual([topics.worker("w1"), null]);
    });

    it("takes an image sent with `mosquitto_pub -f` on the infer topic, as is", async () => {
      const topics = freshTopics();
      const sink = await receive(["source"], topics.filters.requests);
      const { port } = new URL(broker.url);
      const login = broker.login?.("client");
      const sent = await run(MOSQUITTO_PUB_BIN, [
        "-h",
        "127.0.0.1",
        "-p",
        port,
        ...(login ? ["--cafile", login.caFile, "-u", login.username, "-P", login.password] : []),
        "-q",
        "1",
        "-t",
        topics.infer("cam-1"),
        "-f",
        sampleImage("dog.jpg"),
      ]);
      expect(sent).toEqual({ code: 0, stderr: "" });
      const image = await sink.messages.next();
      expect([image.topic, image.payload.equals(readFileSync(sampleImage("dog.jpg")))]).toEqual([
        topics.infer("cam-1"),
        true,
      ]);
    });

    it("carries an 8 MB tensor frame in ≤ 256 KiB chunks at QoS 0 (as job tensors go), byte-exact", async () => {
      const topics = freshTopics();
      const sink = await receive(["worker"], topics.filters.partIn({ jobId: "big" }));
      const source = await connect(["source"]);
      const data = new Float32Array(2 * 1024 * 1024).map((_, i) => Math.sin(i)); // 8 MiB
      const meta = { jobId: "big", layer: 7, part: 2, shape: [512, 64, 64] };

      const started = performance.now();
      const topic = topics.partIn("big", 7, 2);
      const report = await source.publish(topic, frameParts(meta, data), { qos: 0 });
      const got = await sink.messages.next(30_000);
      const ms = performance.now() - started;

      expect(report.chunkCount).toBe(Math.ceil(report.payloadBytes / chunkDataBytes(topic, CONTRACT_MAX_PACKET_BYTES)));
      const frame = decodeFrame(got.payload, got.topic);
      expect({ ...frame, data: undefined }).toEqual({ ...meta, dtype: "float32", data: undefined, computeMs: 0 });
      expect(
        Buffer.compare(
          Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength),
          Buffer.from(data.buffer),
        ),
      ).toBe(0);
      console.log(
        `${broker.name}: 8 MiB frame in ${report.chunkCount} chunks, ${ms.toFixed(0)} ms (${(8 / (ms / 1000)).toFixed(0)} MiB/s)`,
      );
    });

    it("carries a 20 MB weight shard to the one device that asked, and nothing of it stays retained", async () => {
      const topics = freshTopics();
      const shard = randomBytes(20 * 1024 * 1024);
      const sha = createHash("sha256").update(shard).digest("hex");
      const asking = await receive(["worker", "worker-1"], topics.filters.deviceShard({ deviceId: "worker-1" }));
      const other = await receive(["worker", "worker-2"], topics.filters.deviceShard({ deviceId: "worker-2" }));
      const planner = await connect(["planner"]);

      const started = performance.now();
      const report = await planner.publish(topics.deviceShard("worker-1", sha), shard);
      expect(report.chunkCount).toBeGreaterThan(80);
      const live = await asking.messages.next(30_000);
      const ms = performance.now() - started;
      expect([live.topic, live.retain, live.payload.equals(shard)]).toEqual([
        topics.deviceShard("worker-1", sha),
        false,
        true,
      ]);
      await expect(other.messages.next(300)).rejects.toThrow(/no message within 300 ms/);

      const late = await receive(["admin"], topics.filters.all);
      await expect(late.messages.next(500)).rejects.toThrow(/no message within 500 ms/);
      console.log(`${broker.name}: a 20 MiB shard reached its device in ${ms.toFixed(0)} ms`);
    });

    it("rebuilds a 20 MB retained chunked message for a subscriber that arrives after it", async () => {
      const topics = freshTopics();
      const big = randomBytes(20 * 1024 * 1024);
      const planner = await connect(["planner"]);
      const report = await planner.publish(topics.plan(), big, { retain: true });

      const started = performance.now();
      const late = await receive(["worker"], topics.plan());
      const retained = await late.messages.next(30_000);
      const ms = performance.now() - started;
      expect([retained.topic, retained.retain, retained.payload.equals(big)]).toEqual([topics.plan(), true, true]);
      console.log(`${broker.name}: late subscriber rebuilt a 20 MiB retained message in ${ms.toFixed(0)} ms`);

      // cleared with its chunks, a later subscriber gets nothing of it
      await planner.clearRetained(topics.plan(), report.chunkCount);
      const after = await receive(["admin"], topics.filters.all);
      await expect(after.messages.next(500)).rejects.toThrow(/no message within 500 ms/);
    });

    it("reports a malformed chunk and a malformed JSON message without losing the subscription", async () => {
      const topics = freshTopics();
      const sink = await receive(["client"], topics.filters.results());
      const sender = await connect(["source"]);
      await sender.client.publishAsync(chunkTopic(topics.results("r1"), 0), Buffer.from("definitely not a chunk"), {
        qos: 1,
      });
      const chunkError = await sink.errors.next();
      expect(chunkError).toBeInstanceOf(WireError);
      expect(chunkError.message).toMatch(/results\/r1\/c\/0: truncated chunk/);

      // a result whose one flaw is its detections: the error names the field
      const result = {
        requestId: "r1",
        planId: "0123456789abcdef",
        timestamp: new Date().toISOString(),
        image: { width: 4, height: 3 },
        detections: [],
        timings: { totalMs: 1 },
      };
      expect(decodeJson(topics.results("r1"), Buffer.from(JSON.stringify(result)), anyResultSchema).requestId).toBe(
        "r1",
      );
      await sender.publish(topics.results("r1"), JSON.stringify({ ...result, detections: "none" }));
      const bad = await sink.messages.next();
      expect(() => decodeJson(bad.topic, bad.payload, anyResultSchema)).toThrow(WireError);
      expect(() => decodeJson(bad.topic, bad.payload, anyResultSchema)).toThrow(/detections/);

      await sender.publish(topics.results("r2"), Buffer.alloc(600 * 1024, 7));
      const good = await sink.messages.next();
      expect([good.topic, good.payload.length]).toEqual([topics.results("r2"), 600 * 1024]);
    });

    it("times out a chunked message whose chunks stop coming, naming the missing ones", async () => {
      const topics = freshTopics();
      const sink = await receive(["worker"], topics.filters.partIn(), { idleTimeoutMs: 200 });
      const sender = await connect(["source"]);
      const [header, data] = frameParts({ jobId: "j", layer: 0, part: 0, shape: [100_000] }, new Float32Array(100_000));
      const topic = topics.partIn("j", 0, 0);
      const chunks = splitIntoChunks([header, data], { chunkBytes: chunkDataBytes(topic, CONTRACT_MAX_PACKET_BYTES) });
      await sender.client.publishAsync(chunkTopic(topic, 0), chunks[0]!, { qos: 1 });
      const err = await sink.errors.next(3_000);
      expect(err.message).toMatch(/incomplete: 1\/2 chunks, none for 200 ms; missing 1$/);
    });
  });
}

function run(command: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

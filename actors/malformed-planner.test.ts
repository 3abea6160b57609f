/**
 * Malformed messages to the planner and the roster: shard requests, presence on
 * workers/+ (read by the source and the planner), and bad chunks on the topics whose
 * readers only log. Each case sends one bad message, asserts the log line that names what
 * is wrong, then that a valid request still gives the single-device output.
 *
 * The deployment and how a case talks to it: test/malformed.ts.
 */
import { describe, expect, it } from "vitest";
import { chunkTopic } from "../broker/topics.js";
import { inbox } from "../test/brokers.js";
import { junkChunk, literal, topics, useMalformedDeployment } from "../test/malformed.js";

describe("malformed messages to the planner and the roster", () => {
  const { d, logs, nextId, publish, expectServes } = useMalformedDeployment();

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
      const sub = await d.bus.subscribe(topics.deviceShard("ghost-device", sha), {
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
      const roster = new Map(d.system.planner.roster);
      // On a new worker's topic and on a present worker's (not retained: the broker keeps the real presence).
      for (const workerId of [nextId("ghost"), "worker-1"]) {
        const topic = topics.worker(workerId);
        const from = logs.mark();
        await publish(topic, payload);
        await logs.waitFor(literal(`source source: ignored a presence on ${topic}: ${topic}: ${problem}`), from);
        await logs.waitFor(literal(`ignored a message: ${topic}: ${problem}`), from);
      }
      expect(d.system.planner.roster).toEqual(roster);
      expect(d.system.planner.current()?.id).toBe(d.plan.id);
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
});

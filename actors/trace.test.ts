/**
 * The trace while a request runs: the source publishes each stage's trace on
 * trace/<requestId> as the stage ends, before the result, and the result's trace is the
 * same stages in the same order.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBus } from "../broker/bus.js";
import { decodeJson, traceMessageSchema } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { inbox } from "../test/brokers.js";
import { imagePath } from "../test/fixtures.js";
import { startTinySystem } from "../test/systems.js";
import { resultsSchema } from "./source/source.js";
import type { LocalSystem } from "./system.js";

describe("trace/<requestId>", () => {
  let system: LocalSystem;
  beforeAll(async () => {
    // The paper's objective spreads the layers over every device, whatever this machine's speed.
    system = await startTinySystem({ devices: 3, workers: "inline", planning: { objective: "comm" } });
    await system.source.ready(60_000);
  });
  afterAll(async () => system?.stop());

  it("carries each stage as it ends, all before the result, which repeats them", async () => {
    const topics = topicsFor(system.deployment);
    const bus = await connectBus(system.brokerUrl, { clientId: "trace-watcher" });
    try {
      const seen = inbox<{ topic: string; payload: Buffer }>();
      await bus.subscribe([topics.filters.trace(), topics.results("t1")], {
        onMessage: (topic, payload) => seen.push({ topic, payload }),
        onError: (err) => {
          throw err;
        },
      });
      await bus.publish(topics.infer("t1"), readFileSync(imagePath("dog.jpg")));
      const traces = [];
      let m = await seen.next(60_000);
      for (; m.topic !== topics.results("t1"); m = await seen.next(60_000)) {
        expect(m.topic).toBe(topics.trace("t1"));
        traces.push(decodeJson(m.topic, m.payload, traceMessageSchema));
      }
      const result = decodeJson(m.topic, m.payload, resultsSchema);
      expect(traces.map((t) => t.index)).toEqual(result.trace!.map((_, i) => i));
      expect(traces.map((t) => t.stage)).toEqual(result.trace);
      expect(traces.every((t) => t.requestId === "t1" && t.preprocessMs === result.timings.preprocessMs)).toBe(true);
      // A distributed stage names the devices that ran it.
      expect(new Set(traces.flatMap((t) => t.stage.devices.map((d) => d.workerId))).size).toBeGreaterThan(1);
    } finally {
      await bus.close();
    }
  });
});

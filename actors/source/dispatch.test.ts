import { describe, expect, it } from "vitest";
import { connectBus } from "../../broker/bus.js";
import { encodeFrame } from "../../broker/frame.js";
import { topicsFor } from "../../broker/topics.js";
import { EdgefuseError } from "../../core/errors.js";
import { startEmbedded, useTeardown } from "../../test/brokers.js";
import type { TaskExecutor } from "../runtime/executor.js";
import type { Task } from "../runtime/schedule.js";
import { MqttDispatcher } from "./dispatch.js";

const shape = { c: 16, h: 64, w: 64 };
const remoteTask: Task = {
  id: "3/1",
  layer: 3,
  part: 1,
  workerId: "worker-1",
  send: { kind: "all" },
  receives: shape,
  input: shape,
  ops: [],
  output: shape,
  keep: false,
  wire: { input: "float32", output: "float32", image: false },
};

describe("MqttDispatcher", () => {
  const teardown = useTeardown();

  it("fails a job whose input is still being published, with no unhandled rejection", async () => {
    const { url } = teardown.broker(await startEmbedded());
    // 64 KiB packets: the 256 KiB input below goes as several chunks.
    const bus = await connectBus(url, { clientId: "source", reconnectPeriodMs: 0, maxPacketBytes: 64 * 1024 });
    teardown.client(bus.client);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    teardown.add(() => void process.off("unhandledRejection", onUnhandled));
    const noExecutor = (): TaskExecutor => {
      throw new Error("the remote task must not run here");
    };
    const dispatcher = new MqttDispatcher(bus, topicsFor("lab"), "source", noExecutor);
    // The publish of its chunks is still under way when the job fails.
    const running = dispatcher.run(remoteTask, "j1", new Float32Array(shape.c * shape.h * shape.w));
    const left = new EdgefuseError("device-left", "device worker-1 left while job j1 was running");
    dispatcher.fail("j1", left);
    await expect(running).rejects.toBe(left);
    // Node reports an unhandled rejection after the microtask queue drains; give it that turn.
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    expect(dispatcher.waitingOn("j1")).toEqual([]);
    // A task the failed job would start later is refused at once.
    await expect(dispatcher.run(remoteTask, "j1", new Float32Array(1))).rejects.toBe(left);
  });

  it("publishes an input every part takes whole once per job on layerIn, and a slice on each part's partIn", async () => {
    const { url } = teardown.broker(await startEmbedded());
    const topics = topicsFor("lab");
    const bus = await connectBus(url, { clientId: "source", reconnectPeriodMs: 0 });
    const spy = await connectBus(url, { clientId: "spy", reconnectPeriodMs: 0 });
    teardown.client(bus.client);
    teardown.client(spy.client);
    const seen: string[] = [];
    await spy.subscribe([topics.filters.layerIn({ jobId: "j2" }), topics.filters.partIn({ jobId: "j2" })], {
      onMessage: (topic, payload) => {
        seen.push(topic);
        // Each worker answers its own part, as a worker would once its input is there.
        const parsed = topics.parse(topic);
        const parts = parsed?.kind === "layerIn" ? [1, 2] : parsed?.kind === "partIn" ? [parsed.part] : [];
        for (const part of parts) {
          const out = encodeFrame(
            { jobId: "j2", layer: 3, part, shape: [shape.c, shape.h, shape.w] },
            new Float32Array(shape.c * shape.h * shape.w).fill(part),
          );
          dispatcher.deliver(topics.partOut("j2", 3, part), out);
        }
        expect(payload.byteLength).toBeGreaterThan(0);
      },
      onError: (err) => {
        throw err;
      },
    });
    const dispatcher = new MqttDispatcher(bus, topics, "source", () => {
      throw new Error("no task runs on the source here");
    });
    const whole = new Float32Array(shape.c * shape.h * shape.w);
    const tasks: Task[] = [
      { ...remoteTask, id: "3/1", part: 1, workerId: "worker-1" },
      { ...remoteTask, id: "3/2", part: 2, workerId: "worker-2" },
      { ...remoteTask, id: "3/3", part: 3, workerId: "worker-3", send: { kind: "channels", c0: 0, c1: 16 } },
    ];
    const outcomes = await Promise.all(tasks.map((t) => dispatcher.run(t, "j2", whole)));
    expect(outcomes.map((o) => o.output[0])).toEqual([1, 2, 3]);
    expect(seen.sort()).toEqual([topics.layerIn("j2", 3), topics.partIn("j2", 3, 3)].sort());
    dispatcher.end("j2");
  });
});

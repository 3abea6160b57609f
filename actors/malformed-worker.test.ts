/**
 * Malformed messages to the workers (and the source, for plans): plans on plan,
 * task inputs on job/<id>/layer/<l>/part/<p>/in and weight shards. Each case sends one
 * bad message, asserts the report (errors/<jobId> or the log line that names what is
 * wrong), then that a valid request still gives the single-device output.
 *
 * The deployment and how a case talks to it: test/malformed.ts.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { encodeFrame } from "../broker/frame.js";
import { chunkTopic } from "../broker/topics.js";
import { shapeSize } from "../dnn/layers.js";
import type { PartitionedStep } from "../planner/schema.js";
import type { Task } from "./runtime/schedule.js";
import { inbox } from "../test/brokers.js";
import { cfgPath } from "../test/fixtures.js";
import { HELD, PLANNING, junkChunk, literal, patched, topics, useMalformedDeployment } from "../test/malformed.js";

describe("malformed messages to the workers", () => {
  const { d, logs, nextId, publish, chunkingTo, errorFor, expectServes, firstTask } = useMalformedDeployment();

  describe("source and workers, plan", () => {
    const other = () => readFileSync(cfgPath("yolov2-tiny"), "utf8");
    const cases: [string, () => Buffer | string, () => RegExp][] = [
      ["bytes that are not JSON", () => "plan: yes", () => literal(`${topics.plan()}: not JSON: `)],
      [
        "JSON that fails the plan schema",
        () => JSON.stringify({ ...d.plan, devices: [] }),
        () => literal(`${topics.plan()}: field devices: `),
      ],
      [
        "a plan of an unknown version",
        () => JSON.stringify({ ...d.plan, version: 2, id: "00000000000000b2" }),
        () => literal(`${topics.plan()}: field version: `),
      ],
      [
        "a plan for another network",
        () => JSON.stringify({ ...d.plan, model: { ...d.plan.model, cfg: other() }, id: "00000000000000b3" }),
        () =>
          literal(
            `plan 00000000000000b3 was made for model '${d.plan.model.name}' (${d.plan.model.layers} layers), not for plan 00000000000000b3 cfg (`,
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
        expect(d.system.source.readyPlanId()).toBe(d.plan.id);
        expect(d.heldWorker.readyPlanId()).toBe(d.plan.id);
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
      expect(await d.system.replan(PLANNING)).toBe(d.plan.id);
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
      const sub = await d.bus.subscribe(topics.partOut(jobId, task.layer, task.part), {
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
      const withBadShard = structuredClone(d.plan);
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
        expect(await d.system.replan(PLANNING)).toBe(d.plan.id);
      } finally {
        await publish(topic, Buffer.alloc(0), true);
      }
      await expectServes();
    });

    it("a task for a layer/part the worker no longer has (the plan changed while it was queued) → errors/<jobId>", async () => {
      const task = firstTask(HELD);
      // Keep worker-held busy on a task, so what follows queues behind it.
      const held = d.hold.holdNext();
      const busy = nextId("busy");
      await publish(topics.partIn(busy, task.layer, task.part), validFrame(busy, task));
      await held.held;
      // A plan that moves this part to the source, then an input for the part: the worker
      // gets both in this order, on subscriptions of the plan it still follows.
      const moved = structuredClone(d.plan);
      moved.id = "00000000000000c1";
      const step = moved.steps.find((s) => s.layer === task.layer) as PartitionedStep;
      step.parts.find((p) => p.part === task.part)!.workerId = "source";
      const jobId = nextId("job");
      const topic = topics.partIn(jobId, task.layer, task.part);
      // The broker has the input once publish resolves, the worker only a moment later:
      // release the held run only when the input is queued behind the plan.
      const reached = new Promise<void>((resolve) => {
        const stop = d.heldBus.onPacket((t) => {
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
      expect(await d.system.replan(PLANNING)).toBe(d.plan.id);
      await expectServes();
    });
  });
});

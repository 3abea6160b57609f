/**
 * Malformed messages to the source: requests on infer/<id>, outputs on
 * job/+/layer/+/part/+/out and reports on errors/+. Each case sends one bad message,
 * asserts the report (errors/<id> or the log line that names what is wrong), then that
 * a valid request still gives the single-device output.
 *
 * The deployment and how a case talks to it: test/malformed.ts.
 */
import { describe, expect, it } from "vitest";
import { encodeFrame } from "../broker/frame.js";
import { chunkTopic } from "../broker/topics.js";
import { shapeSize } from "../dnn/layers.js";
import { HELD, junkChunk, literal, patched, topics, useMalformedDeployment } from "../test/malformed.js";

describe("malformed messages to the source", () => {
  const {
    d,
    logs,
    inboxOf,
    nextId,
    publish,
    tensorFrame,
    errorFor,
    expectCorrect,
    expectServes,
    firstTask,
    outputFrame,
  } = useMalformedDeployment();

  describe("source, infer/<id>", () => {
    const frameBytes = () => 128 + 4 * shapeSize(d.network.input);
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
        payload: () => d.dog.subarray(0, 20_000),
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
        payload: (id) => encodeFrame({ jobId: id, layer: 0, part: 0, shape: [96, 96, 3] }, d.input),
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
      await publish(topic, d.dog);
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
      const held = d.hold.holdNext();
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
      const held = d.hold.holdNext();
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
      const held = d.hold.holdNext();
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
});

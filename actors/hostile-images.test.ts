/**
 * Hostile images sent to a real source through a real broker: each gets its one-line
 * error on errors/<id> before the source decodes it, and the next real image is still
 * answered. Then the request size limit, on a source of its own with a small one.
 *
 * The deployment and how a case talks to it: test/malformed.ts; the images are built
 * byte by byte in dnn/image/test-support.ts.
 */
import { createCanvas } from "@napi-rs/canvas";
import { describe, expect, it } from "vitest";
import { type Bus, busOver, connectBus } from "../broker/bus.js";
import { decodeJson, errorMessageSchema } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { claimingJpeg, cutWithEoi, interlacedBomb, pngWith } from "../dnn/image/test-support.js";
import { onnxRuntime } from "../dnn/onnx/runtime.js";
import { inbox, startEmbedded, useTeardown } from "../test/brokers.js";
import { literal, topics, useMalformedDeployment } from "../test/malformed.js";
import { presenceWill } from "./runtime/device.js";
import { resultsSchema, sourceDefaults, startSource } from "./source/source.js";

describe("hostile images to the source", () => {
  const { d, inboxOf, nextId, publish, chunkingTo, errorFor } = useMalformedDeployment();

  /** dog.jpg, sent after a hostile image, is still decoded and answered. */
  async function expectImageAnswered(): Promise<void> {
    const id = nextId("dog");
    await publish(topics.infer(id), d.dog);
    const r = await inboxOf(id).next(20_000, `reply to ${id}`);
    expect(r.kind, r.payload.toString()).toBe("results");
    const result = decodeJson(topics.results(id), r.payload, resultsSchema);
    expect(result.image).toEqual({ width: 768, height: 576 });
  }

  const cases: { label: string; payload: () => Buffer; problem: RegExp }[] = [
    {
      label: "a 1 × 49,999,999 PNG",
      payload: () => pngWith(1, 49_999_999, { colorType: 2, depth: 8 }, Buffer.alloc(16)),
      problem: literal("PNG header says 1×49999999, over the 16384 px limit on a side"),
    },
    {
      label: "a 60000 × 60000 JPEG header",
      payload: () => claimingJpeg(60_000, 60_000),
      problem: literal("JPEG header says 60000×60000, over the 16384 px limit on a side"),
    },
    {
      label: "an interlaced PNG whose data inflates to 8 MB past its 64 × 64 header",
      payload: () => interlacedBomb(8 * 1024 * 1024),
      problem:
        /corrupt or truncated PNG \(\d+ bytes\): image data inflates past the 16504 bytes its 64×64 header allows/,
    },
    {
      label: "a JPEG of a few hundred bytes claiming 6000 × 6000",
      payload: () => claimingJpeg(6000, 6000),
      problem: /corrupt or truncated JPEG \(\d+ bytes\): truncated: scan 1 .* of its 6000×6000 frame/,
    },
    {
      label: "dog.jpg cut in its scan, with its EOI marker put back",
      payload: () => cutWithEoi(d.dog, 60_000),
      problem: /corrupt or truncated JPEG \(60002 bytes\): truncated: scan 1 /,
    },
  ];

  it.each(cases)("$label → errors/<id> names the limit; the next image is answered", async ({ payload, problem }) => {
    const id = nextId("hostile");
    await publish(topics.infer(id), payload());
    const e = await errorFor(id);
    expect(e).toMatchObject({ requestId: id, code: "input", where: `source source: request ${id}` });
    expect(e.message).toMatch(new RegExp(`^${literal(`${topics.infer(id)}: `).source}${problem.source}`));
    expect(e.message).not.toContain("\n");
    await expectImageAnswered();
  });

  it("a 6000 × 6000 JPEG is decoded off the broker's thread: the broker keeps serving meanwhile, and the image is answered", async () => {
    const canvas = createCanvas(6000, 6000);
    const ctx = canvas.getContext("2d");
    const fill = ctx.createLinearGradient(0, 0, 6000, 6000);
    fill.addColorStop(0, "#204080");
    fill.addColorStop(1, "#e0c040");
    ctx.fillStyle = fill;
    ctx.fillRect(0, 0, 6000, 6000);
    const big = canvas.toBuffer("image/jpeg", 80); // ~230 kB; decoding it takes ~2 s of one core here
    // Pings through the broker (which runs on this thread, as in edgefuse up) while the source decodes.
    const pingTopic = `${topics.deployment}-ping`;
    const heard: number[] = [];
    const pings = await d.bus.subscribe(pingTopic, {
      onMessage: () => {
        heard.push(performance.now());
      },
      onError: () => undefined,
    });
    const timer = setInterval(() => void d.bus.publish(pingTopic, "ping").catch(() => undefined), 20);
    const id = nextId("big");
    await publish(topics.infer(id), big);
    const r = await inboxOf(id).next(60_000, `reply to ${id}`);
    clearInterval(timer);
    await pings.unsubscribe();
    expect(r.kind, r.payload.toString()).toBe("results");
    expect(decodeJson(topics.results(id), r.payload, resultsSchema).image).toEqual({ width: 6000, height: 6000 });
    const gaps = heard.slice(1).map((t, i) => t - heard[i]!);
    expect(heard.length).toBeGreaterThan(20);
    expect(Math.max(...gaps), "the longest the broker went without passing a ping on, ms").toBeLessThan(500);
  });

  it("a chunked request over maxRequestBytes is refused at its first chunk; the next image is answered", async () => {
    const id = nextId("huge");
    const { maxRequestBytes } = sourceDefaults;
    await chunkingTo(1024 * 1024).publish(topics.infer(id), Buffer.alloc(maxRequestBytes + 1));
    const e = await errorFor(id);
    expect(e).toMatchObject({ requestId: id, code: "wire" });
    expect(e.message).toContain(
      `message of ${maxRequestBytes + 1} bytes is over this receiver's limit of ${maxRequestBytes} bytes per message`,
    );
    await expectImageAnswered();
  });
});

describe("the source's request size limit", () => {
  const teardown = useTeardown("each");
  const DEPLOYMENT = "request-size";
  const sizeTopics = topicsFor(DEPLOYMENT);

  /** A source with no plan and maxRequestBytes 4096; a request within it waits for a plan, for 300 ms. */
  async function smallSource(): Promise<{ client: Bus; errors: ReturnType<typeof inbox<Buffer>> }> {
    const broker = teardown.broker(await startEmbedded());
    const bus = await connectBus(broker.url, { clientId: "source", will: presenceWill(sizeTopics, "source") });
    teardown.client(bus.client);
    const source = await startSource({
      bus,
      deployment: DEPLOYMENT,
      sourceId: "source",
      runtime: onnxRuntime(),
      gmacPerSec: 50,
      memoryBudgetBytes: 1e9,
      baselineBytes: 0,
      maxRequestBytes: 4096,
      planWaitMs: 300,
      log: () => undefined,
    });
    teardown.add(() => source.stop());
    const client = await connectBus(broker.url, { clientId: "client" });
    teardown.client(client.client);
    const errors = inbox<Buffer>();
    await client.subscribe(sizeTopics.filters.errors(), {
      onMessage: (_topic, payload) => errors.push(payload),
      onError: () => undefined,
    });
    return { client, errors };
  }

  const errorOf = (payload: Buffer, id: string) =>
    decodeJson(sizeTopics.errors(id), payload, errorMessageSchema) as { requestId: string; message: string };

  it("a request sent whole over the limit is refused before it is queued; one within it is not", async () => {
    const { client, errors } = await smallSource();
    await client.client.publishAsync(sizeTopics.infer("big"), Buffer.alloc(4097, 1), { qos: 1 });
    expect(errorOf(await errors.next(10_000, "error for big"), "big")).toMatchObject({
      requestId: "big",
      message: `${sizeTopics.infer("big")}: request of 4097 bytes exceeds maxRequestBytes 4096`,
    });
    // At the limit it is taken in, and waits for a plan that never comes.
    await client.client.publishAsync(sizeTopics.infer("small"), Buffer.alloc(4096, 1), { qos: 1 });
    const small = errorOf(await errors.next(10_000, "error for small"), "small");
    expect(small.requestId).toBe("small");
    expect(small.message).not.toMatch(/maxRequestBytes|maxMessageBytes/);
  });

  it("a chunked one over the limit is refused at its first chunk", async () => {
    const { client, errors } = await smallSource();
    await busOver(client.client, { maxPacketBytes: 1024 }).publish(sizeTopics.infer("chunked"), Buffer.alloc(5000, 1));
    expect(errorOf(await errors.next(10_000, "error for chunked"), "chunked").message).toContain(
      "message of 5000 bytes is over this receiver's limit of 4096 bytes per message (maxMessageBytes)",
    );
  });
});

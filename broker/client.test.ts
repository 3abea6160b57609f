import { createServer, type Server } from "node:net";
import { describe, expect, it } from "vitest";
import { inbox, startEmbedded, useTeardown } from "../test/brokers.js";
import { connectBus } from "./bus.js";
import { clearRetainedChunks, connectBroker, publishChunked, subscribeChunked } from "./client.js";
import { BrokerError } from "./errors.js";
import { topicsFor } from "./topics.js";

const t = topicsFor("lab");

describe("connectBroker", () => {
  const teardown = useTeardown();

  it("names the URL when nothing listens there", async () => {
    const { broker } = await startEmbedded();
    const url = broker.url;
    await broker.close(); // the port is free again
    const error = await connectBroker(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as BrokerError).message).toMatch(new RegExp(`^${url}: cannot connect: .*ECONNREFUSED`));
  });

  it("gives up on a server that never answers CONNECT", async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    teardown.add(() => new Promise((resolve) => silent.close(resolve)));
    silent.on("connection", (socket) => teardown.add(() => socket.destroy()));
    const port = (silent.address() as { port: number }).port;
    await expect(connectBroker(`mqtt://127.0.0.1:${port}`, { connectTimeoutMs: 200 })).rejects.toThrow(
      `mqtt://127.0.0.1:${port}: no answer within 200 ms`,
    );
  });

  it("is refused in MQTT 5 by aedes, which speaks only 3.1.1", async () => {
    const { url } = teardown.broker(await startEmbedded());
    await expect(connectBroker(url, { protocolVersion: 5 })).rejects.toThrow(
      /: cannot connect: Connection refused: Unacceptable protocol version$/,
    );
  });
});

describe("publishChunked / subscribeChunked", () => {
  const teardown = useTeardown();
  const setup = async () => {
    const { url } = teardown.broker(await startEmbedded());
    const connect = async (clientId: string) =>
      teardown.client(await connectBroker(url, { clientId, reconnectPeriodMs: 0 }));
    return { connect };
  };

  it("sends a payload that fits whole, on the topic itself", async () => {
    const { connect } = await setup();
    const raw = inbox<string>();
    const sub = await connect("sub");
    await sub.subscribeAsync("edgefuse/#");
    sub.on("message", (topic) => raw.push(topic));
    const report = await publishChunked(await connect("pub"), t.infer("r"), Buffer.alloc(1000), {
      maxPacketBytes: 2000,
    });
    expect(report).toEqual({ chunkCount: 0, payloadBytes: 1000 });
    expect(await raw.next()).toBe(t.infer("r"));
  });

  it("routes a handler's failure to onError and keeps delivering", async () => {
    const { connect } = await setup();
    const client = await connect("worker");
    const errors = inbox<[string, string]>();
    const seen: string[] = [];
    await subscribeChunked(client, t.filters.requests, {
      onMessage: async (topic, payload) => {
        if (payload.toString() === "sync") throw new Error("sync failure");
        if (payload.toString() === "async") await Promise.reject(new Error("async failure"));
        seen.push(topic);
      },
      onError: (err, topic) => errors.push([err.message, topic]),
    });
    const pub = await connect("pub");
    for (const body of ["sync", "async"]) await pub.publishAsync(t.infer(body), body, { qos: 1 });
    expect([await errors.next(), await errors.next()]).toEqual([
      ["sync failure", t.infer("sync")],
      ["async failure", t.infer("async")],
    ]);
    await publishChunked(pub, t.infer("ok"), Buffer.alloc(10_000), { maxPacketBytes: 4096 });
    await expect.poll(() => seen).toEqual([t.infer("ok")]);
  });

  it("keeps a shared filter subscribed until its last user leaves", async () => {
    const { connect } = await setup();
    const client = await connect("worker");
    const a = inbox<string>();
    const b = inbox<string>();
    const subA = await subscribeChunked(client, t.plan(), { onMessage: (_, p) => a.push(`${p}`), onError: () => {} });
    const subB = await subscribeChunked(client, t.plan(), { onMessage: (_, p) => b.push(`${p}`), onError: () => {} });
    const planner = await connect("planner");
    await subA.unsubscribe();
    await planner.publishAsync(t.plan(), "v2", { qos: 1 });
    expect(await b.next()).toBe("v2");
    expect(a.items).toEqual([]);
    await subB.unsubscribe();
    await subB.unsubscribe(); // twice is fine
  });

  it("clears a retained chunked message so a later reader gets nothing", async () => {
    const { connect } = await setup();
    const planner = await connect("planner");
    const topic = t.plan();
    const { chunkCount } = await publishChunked(planner, topic, Buffer.alloc(50_000, 3), {
      maxPacketBytes: 8192,
      retain: true,
    });
    await clearRetainedChunks(planner, topic, chunkCount);
    const got = inbox<string>();
    const errors = inbox<Error>();
    await subscribeChunked(await connect("late"), t.filters.all, {
      onMessage: (tp) => got.push(tp),
      onError: (e) => errors.push(e),
    });
    await expect(got.next(300)).rejects.toThrow();
    expect(errors.items).toEqual([]);
  });
});

describe("Bus.whenSteady", () => {
  const teardown = useTeardown();

  it("is steady at once on its first connection, waits out a reconnection, and fails once the bus is closed", async () => {
    const { broker } = teardown.broker(await startEmbedded());
    const bus = await connectBus(broker.url, { clientId: "steady", reconnectPeriodMs: 100 });
    teardown.client(bus.client);
    const started = performance.now();
    await bus.whenSteady(1_000);
    expect(performance.now() - started).toBeLessThan(100);

    const reconnected = new Promise<number>((resolve) => bus.client.once("connect", () => resolve(performance.now())));
    const dropped = new Promise<void>((resolve) => bus.client.once("close", () => resolve()));
    bus.client.stream.destroy(); // the link drops; mqtt.js reconnects 100 ms later
    await dropped;
    const steady = bus.whenSteady(300).then(() => performance.now());
    const [back, calm] = await Promise.all([reconnected, steady]);
    expect(calm - back).toBeGreaterThanOrEqual(295);

    const waiting = bus.whenSteady(60_000);
    bus.client.stream.destroy();
    await bus.close({ force: true });
    await expect(waiting).rejects.toThrow(/the connection was closed/);
  });
});

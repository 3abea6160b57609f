/**
 * The broker contract against a Mosquitto that enforces max_packet_size 256 KiB, so
 * the chunked transfers above are proven to fit, plus proof that the limit is real.
 */
import { describe, expect, it } from "vitest";
import { inbox, startMosquitto, useTeardown } from "../test/brokers.js";
import { CONTRACT_MAX_PACKET_BYTES, brokerContract } from "./broker.contract.js";
import { connectBroker, publishChunked, subscribeChunked } from "./client.js";
import { topicsFor } from "./topics.js";

const start = () => startMosquitto({ maxPacketBytes: CONTRACT_MAX_PACKET_BYTES });
brokerContract(start);

describe("mosquitto with max_packet_size", () => {
  const teardown = useTeardown();

  it("drops a client that sends one packet over the limit", async () => {
    const broker = teardown.broker(await start());
    const client = teardown.client(await connectBroker(broker.url, { reconnectPeriodMs: 0 }));
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    client.publish(topicsFor("limit").plan(), Buffer.alloc(CONTRACT_MAX_PACKET_BYTES + 1), { qos: 1 });
    await closed;
  });

  it("over MQTT 5, publishChunked keeps to the limit the broker advertises", async () => {
    const broker = teardown.broker(await start());
    const topics = topicsFor("limit");
    const v5 = { protocolVersion: 5, reconnectPeriodMs: 0 } as const;
    const receiver = teardown.client(await connectBroker(broker.url, v5));
    const got = inbox<Buffer>();
    await subscribeChunked(receiver, topics.filters.requests, {
      onMessage: (_, payload) => got.push(payload),
      onError: (err) => {
        throw err;
      },
    });
    const sender = teardown.client(await connectBroker(broker.url, v5));
    const image = Buffer.alloc(3 * 1024 * 1024, 0xab);

    // Asked for 64 MiB packets; the CONNACK said 256 KiB, and that wins.
    const report = await publishChunked(sender, topics.infer("r1"), image, { maxPacketBytes: 64 * 1024 * 1024 });
    expect(report.chunkCount).toBe(13);
    expect((await got.next()).equals(image)).toBe(true);
  });
});

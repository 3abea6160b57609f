import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_PACKET_BYTES } from "./client.js";
import { brokerLimitDefaults, isRequestTopic, PacketScanner, RetainedBudget, TokenBucket } from "./limits.js";
import { chunkTopic, topicsFor } from "./topics.js";

const t = topicsFor("lab");

/** A QoS 0 PUBLISH packet (MQTT 3.1.1 §3.3): type byte, remaining length in 7-bit groups, topic, payload. */
function publish(topic: string, payloadBytes: number): Buffer {
  const topicBytes = Buffer.from(topic);
  let remaining = 2 + topicBytes.byteLength + payloadBytes;
  const length: number[] = [];
  do {
    const digit = remaining % 128;
    remaining = Math.floor(remaining / 128);
    length.push(remaining > 0 ? digit | 0x80 : digit);
  } while (remaining > 0);
  const topicLength = Buffer.alloc(2);
  topicLength.writeUInt16BE(topicBytes.byteLength);
  return Buffer.concat([Buffer.from([0x30, ...length]), topicLength, topicBytes, Buffer.alloc(payloadBytes, 1)]);
}

/** Feeds `bytes` to a scanner in pieces of `step` bytes; the sizes of the oversize packets it saw. */
function scan(bytes: Buffer, maxPacketBytes: number, step: number): { oversize: number[]; stopped: boolean } {
  const oversize: number[] = [];
  const scanner = new PacketScanner(maxPacketBytes, (n) => oversize.push(n));
  for (let i = 0; i < bytes.byteLength; i += step) {
    if (!scanner.feed(bytes.subarray(i, i + step))) return { oversize, stopped: true };
  }
  return { oversize, stopped: false };
}

describe("broker limits", () => {
  it("reads packet sizes off MQTT fixed headers, however the bytes are split", () => {
    // Remaining lengths of 1, 2, 3 and 4 bytes (127, 16383, 2097151 are the edges).
    const packets = [10, 200, 20_000, 3_000_000].map((n) => publish(t.infer("r"), n));
    const headerBytes = packets.map(
      (p, i) => p.byteLength - [10, 200, 20_000, 3_000_000][i]! - 2 - t.infer("r").length,
    );
    expect(headerBytes).toEqual([1 + 1, 1 + 2, 1 + 3, 1 + 4]); // a type byte and 1 to 4 length bytes
    const stream = Buffer.concat(packets);
    for (const step of [3, 7, 4096, stream.byteLength]) {
      expect(scan(stream, 4 * 1024 * 1024, step)).toEqual({ oversize: [], stopped: false });
    }
    const biggest = packets[3]!.byteLength;
    for (const step of [1, 3, 65_536]) {
      expect(scan(stream, biggest - 1, step)).toEqual({ oversize: [biggest], stopped: true });
    }
    // A packet of exactly the limit passes.
    expect(scan(packets[2]!, packets[2]!.byteLength, 5).oversize).toEqual([]);
  });

  it("gives up on a remaining length MQTT does not allow, leaving it to the broker's parser", () => {
    expect(scan(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 1024, 1)).toEqual({ oversize: [], stopped: true });
  });

  it("the default packet limit carries the chunks edgefuse sends by default", () => {
    expect(brokerLimitDefaults.maxPacketBytes).toBeGreaterThanOrEqual(DEFAULT_MAX_PACKET_BYTES);
    const chunk = publish(chunkTopic(t.partIn("job-with-a-long-id", 12, 3), 99_999), DEFAULT_MAX_PACKET_BYTES - 200);
    expect(scan(chunk, brokerLimitDefaults.maxPacketBytes, 65_536).oversize).toEqual([]);
  });

  it("counts retained bytes by topic: a message replaces its topic's, an empty one removes it", () => {
    const budget = new RetainedBudget(1_000);
    expect(budget.admit("a", 500)).toBe(true);
    expect(budget.admit("b", 500)).toBe(false); // 500 + 1 + 500 + 1 > 1000
    expect(budget.admit("a", 300)).toBe(true); // replaces a's 500
    expect(budget.bytes).toBe(301);
    expect(budget.admit("b", 600)).toBe(true);
    expect(budget.admit("c", 200)).toBe(false);
    expect(budget.admit("a", 0)).toBe(true);
    expect(budget.bytes).toBe(601);
    expect(budget.admit("c", 200)).toBe(true);
  });

  it("paces requests: the burst goes at once, the rest at the rate, and an idle client gets its burst back", () => {
    let now = 0;
    const bucket = new TokenBucket({ perSecond: 100, burst: 3 }, () => now);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0]);
    expect([bucket.take(), bucket.take()]).toEqual([10, 20]); // queued one after another at 100/s
    now = 1_000;
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0, 10]);
  });

  it("knows request topics, valid or not, and their chunks", () => {
    expect(isRequestTopic(t.infer("r1"))).toBe(true);
    expect(isRequestTopic(chunkTopic(t.infer("r1"), 4))).toBe(true);
    expect(isRequestTopic("edgefuse/v1/lab/infer")).toBe(true);
    expect(isRequestTopic("edgefuse/v1/lab/infer/bad id/more")).toBe(true);
    expect(isRequestTopic(t.results("r1"))).toBe(false);
    expect(isRequestTopic(t.partIn("j", 1, 0))).toBe(false);
    expect(isRequestTopic("elsewhere/lab/infer/r1")).toBe(false);
  });
});

import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WireError } from "../core/errors.js";
import {
  CHUNK_HEADER_BYTES,
  Reassembler,
  chunkDataBytes,
  decodeChunk,
  fitsOnePacket,
  splitIntoChunks,
  type ReassemblerOptions,
} from "./chunking.js";
import { chunkTopic } from "./topics.js";

const topic = "edgefuse/v1/lab/job/j1/layer/3/part/1/out";
const at = (i: number) => chunkTopic(topic, i);
const message = randomBytes(10_000);

function setup(options: Partial<ReassemblerOptions> = {}) {
  const errors: WireError[] = [];
  const reassembler = new Reassembler((err) => errors.push(err), options);
  return { reassembler, errors };
}

/** Pushes chunks (by index) and returns the payloads completed. */
function feed(reassembler: Reassembler, chunks: Buffer[], order: number[]): Buffer[] {
  return order.flatMap((i) => reassembler.push(at(i), chunks[i]!)?.payload ?? []);
}

/** A single chunk whose header says whatever it is given, as a forger would send it. */
function forgedChunk(h: { messageId: number; chunkCount: number; chunkBytes: number; totalBytes: number }): Buffer {
  const size = Math.min(h.chunkBytes, h.totalBytes);
  const chunk = Buffer.alloc(CHUNK_HEADER_BYTES + size);
  chunk.write("EFC1", 0, "ascii");
  chunk.writeUInt16LE(1, 4);
  chunk.writeUInt32LE(h.messageId, 8);
  chunk.writeUInt32LE(0, 12);
  chunk.writeUInt32LE(h.chunkCount, 16);
  chunk.writeUInt32LE(h.chunkBytes, 20);
  chunk.writeBigUInt64LE(BigInt(h.totalBytes), 24);
  return chunk;
}

describe("chunking", () => {
  afterEach(() => vi.useRealTimers());

  it("splits into chunks of the asked size, copying straight from the parts", () => {
    const parts = [message.subarray(0, 1234), message.subarray(1234, 1300), message.subarray(1300)];
    const chunks = splitIntoChunks(parts, { chunkBytes: 3_000, messageId: 7 });
    expect(chunks.map((c) => c.byteLength - CHUNK_HEADER_BYTES)).toEqual([3000, 3000, 3000, 1000]);
    const decoded = chunks.map((c) => decodeChunk(c));
    expect(
      decoded.map(({ messageId, chunkIndex, chunkCount, totalBytes }) => [
        messageId,
        chunkIndex,
        chunkCount,
        totalBytes,
      ]),
    ).toEqual([0, 1, 2, 3].map((i) => [7, i, 4, 10_000]));
    expect(Buffer.concat(decoded.map((c) => c.data)).equals(message)).toBe(true);
  });

  it("sizes chunks so each packet fits the limit", () => {
    const bytes = chunkDataBytes(topic, 256 * 1024);
    const packet = 1 + 4 + 2 + Buffer.byteLength(at(99999)) + 2 + CHUNK_HEADER_BYTES + bytes;
    expect(packet).toBeLessThanOrEqual(256 * 1024);
    expect(bytes).toBeGreaterThan(256 * 1024 - 200);
    expect(fitsOnePacket(topic, 1000, 1100)).toBe(true);
    expect(fitsOnePacket(topic, 1100, 1100)).toBe(false);
    expect(() => chunkDataBytes(topic, 100)).toThrow(/leaves no room/);
  });

  it("reassembles chunks that arrive out of order", () => {
    const { reassembler, errors } = setup();
    const chunks = splitIntoChunks(message, { chunkBytes: 1_000 });
    const done = feed(reassembler, chunks, [9, 3, 0, 7, 1, 8, 2, 6, 4, 5]);
    expect(done).toHaveLength(1);
    expect(done[0]!.equals(message)).toBe(true);
    expect([errors, reassembler.pendingMessages, reassembler.pendingBytes]).toEqual([[], 0, 0]);
  });

  it("reassembles into the pieces `place` gives, across their boundaries and out of order", () => {
    const pieces = [new Uint8Array(128), new Uint8Array(3_000), new Uint8Array(0), new Uint8Array(6_872)];
    const asked: [string, number][] = [];
    const { reassembler, errors } = setup({
      place: (t, bytes) => {
        asked.push([t, bytes]);
        return pieces;
      },
    });
    const chunks = splitIntoChunks(message, { chunkBytes: 1_000 });
    const done = [9, 3, 0, 7, 1, 8, 2, 6, 4, 5].flatMap((i) => reassembler.push(at(i), chunks[i]!) ?? []);
    expect(asked).toEqual([[topic, 10_000]]);
    expect(done).toHaveLength(1);
    expect(done[0]!.placement).toBe(pieces);
    expect(done[0]!.payload.equals(message.subarray(0, 128))).toBe(true); // the first piece
    expect(Buffer.concat(pieces).equals(message)).toBe(true);
    expect([errors, reassembler.pendingMessages, reassembler.pendingBytes]).toEqual([[], 0, 0]);
  });

  it("checks the CRC of a placed message, and reassembles as usual when there is no fitting placement", () => {
    const { reassembler, errors } = setup({
      place: (_t, bytes) => [new Uint8Array(bytes / 2), new Uint8Array(bytes / 2)],
    });
    const chunks = splitIntoChunks(message, { chunkBytes: 4_000, messageId: 4 });
    chunks[2]![CHUNK_HEADER_BYTES + 5]! ^= 0xff;
    expect(feed(reassembler, chunks, [0, 1, 2])).toEqual([]);
    expect(errors[0]!.message).toMatch(/message 0x00000004: CRC-32 0x[0-9a-f]{8} ≠ 0x[0-9a-f]{8} in its chunks/);

    for (const place of [
      () => [new Uint8Array(100)],
      () => undefined,
      (): never => {
        throw new RangeError("no room");
      },
    ]) {
      const other = setup({ place });
      const done = splitIntoChunks(message, { chunkBytes: 4_000 }).flatMap(
        (c, i) => other.reassembler.push(at(i), c) ?? [],
      );
      expect(done[0]!.placement).toBeUndefined();
      expect(done[0]!.payload.equals(message)).toBe(true);
      expect(other.errors).toEqual([]);
    }
  });

  it("derives the message id from the content when asked (retained messages)", () => {
    const [a] = splitIntoChunks(message, { chunkBytes: 4_000, messageId: "crc32" });
    const [b] = splitIntoChunks([message.subarray(0, 10), message.subarray(10)], {
      chunkBytes: 4_000,
      messageId: "crc32",
    });
    expect(a!.equals(b!)).toBe(true);
    expect(decodeChunk(a!).messageId).toBe(decodeChunk(a!).crc32);
    expect(decodeChunk(splitIntoChunks(message, { chunkBytes: 4_000 })[0]!).messageId).not.toBe(decodeChunk(a!).crc32);
  });

  it("keeps two messages on the same topic apart by message id", () => {
    const { reassembler } = setup();
    const other = randomBytes(4_000);
    const a = splitIntoChunks(message, { chunkBytes: 4_000 });
    const b = splitIntoChunks(other, { chunkBytes: 4_000 });
    expect(reassembler.push(at(0), a[0]!)).toBeUndefined();
    expect(reassembler.push(at(0), b[0]!)?.payload.equals(other)).toBe(true);
    expect(reassembler.push(at(1), a[1]!)).toBeUndefined();
    expect(reassembler.push(at(2), a[2]!)?.payload.equals(message)).toBe(true);
  });

  it("ignores duplicate chunks, and late duplicates of a finished message", () => {
    const { reassembler, errors } = setup({ idleTimeoutMs: 50 });
    const chunks = splitIntoChunks(message, { chunkBytes: 2_500 });
    const done = feed(reassembler, chunks, [0, 0, 1, 1, 2, 3, 3, 0]);
    expect(done).toHaveLength(1);
    expect(reassembler.pendingMessages).toBe(0); // the late chunk 0 did not open a new message
    expect(errors).toEqual([]);
  });

  it("ignores empty payloads (retained deletions) silently, even in the middle of a message", () => {
    const { reassembler, errors } = setup();
    const chunks = splitIntoChunks(message, { chunkBytes: 4_000 });
    // a planner clearing an old retained shard: every chunk topic gets an empty payload
    for (let i = 0; i < 3; i++) expect(reassembler.push(at(i), Buffer.alloc(0))).toBeUndefined();
    expect(reassembler.push(at(0), chunks[0]!)).toBeUndefined();
    expect(reassembler.push(at(1), Buffer.alloc(0))).toBeUndefined();
    expect(feed(reassembler, chunks, [1, 2])[0]!.equals(message)).toBe(true);
    expect([errors, reassembler.pendingMessages]).toEqual([[], 0]);
  });

  it("drops an inconsistent chunk with an error and still completes the message", () => {
    const { reassembler, errors } = setup();
    const chunks = splitIntoChunks(message, { chunkBytes: 5_000, messageId: 1 });
    const liar = Buffer.from(chunks[1]!);
    liar.writeUInt32LE(0xdeadbeef, 32); // another CRC: not the same message
    expect(reassembler.push(at(0), chunks[0]!)).toBeUndefined();
    expect(reassembler.push(at(1), liar)).toBeUndefined();
    expect(errors.map((e) => e.message)).toEqual([
      `${topic}: chunk 1/2 of message 0x00000001: inconsistent with earlier chunks: crc32 0xdeadbeef ≠ 0x${chunks[0]!.readUInt32LE(32).toString(16).padStart(8, "0")}`,
    ]);
    expect(reassembler.push(at(1), chunks[1]!)?.payload.equals(message)).toBe(true);
  });

  it("refuses a chunk whose topic index disagrees with its header", () => {
    const { reassembler, errors } = setup();
    const chunks = splitIntoChunks(message, { chunkBytes: 5_000, messageId: 2 });
    reassembler.push(at(1), chunks[0]!);
    expect(errors[0]!.message).toMatch(/chunk 0\/2 of message 0x00000002: header index ≠ topic index 1/);
    expect(errors[0]!.topic).toBe(at(1));
  });

  it("rejects a message whose bytes do not match its CRC", () => {
    const { reassembler, errors } = setup();
    const chunks = splitIntoChunks(message, { chunkBytes: 5_000, messageId: 3 });
    chunks[1]![CHUNK_HEADER_BYTES + 17]! ^= 0xff;
    expect(feed(reassembler, chunks, [0, 1])).toEqual([]);
    expect(errors[0]!.message).toMatch(/message 0x00000003: CRC-32 0x[0-9a-f]{8} ≠ 0x[0-9a-f]{8} in its chunks/);
  });

  // An edit returns the chunk it cut short, or nothing when it wrote into the chunk in place.
  it.each<[string, (c: Buffer) => Buffer | undefined, RegExp]>([
    ["too short", (c) => c.subarray(0, 10), /truncated chunk: 10 bytes/],
    ["wrong magic", (c) => void c.write("EFT1", 0), /bad chunk magic "EFT1"/],
    ["a newer version", (c) => void c.writeUInt16LE(2, 4), /unsupported chunk version 2/],
    ["an index past the count", (c) => void c.writeUInt32LE(5, 12), /chunk index 5 ≥ chunk count 2/],
    ["a wrong count", (c) => void c.writeUInt32LE(3, 16), /chunkCount 3 ≠ ceil\(10000 \/ 5000\)/],
    ["a missing byte", (c) => c.subarray(0, c.byteLength - 1), /chunk 0\/2 carries 4999 data bytes, expected 5000/],
    ["zero total bytes", (c) => void c.writeBigUInt64LE(0n, 24), /totalBytes 0 out of range/],
  ])("refuses a chunk that is %s", (_, edit, expected) => {
    const { reassembler, errors } = setup();
    const original = Buffer.from(splitIntoChunks(message, { chunkBytes: 5_000 })[0]!);
    const chunk = edit(original) ?? original;
    expect(reassembler.push(at(0), chunk)).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(WireError);
    expect(errors[0]!.message).toMatch(expected);
    expect(reassembler.pendingMessages).toBe(0);
  });

  it("expires a message whose chunks stop coming, naming the missing ones", () => {
    vi.useFakeTimers();
    const { reassembler, errors } = setup({ idleTimeoutMs: 1_000 });
    const chunks = splitIntoChunks(message, { chunkBytes: 1_000, messageId: 9 });
    feed(reassembler, chunks, [0, 2, 5]);
    vi.advanceTimersByTime(900);
    feed(reassembler, chunks, [6]); // a new chunk restarts the clock
    vi.advanceTimersByTime(900);
    expect(errors).toEqual([]);
    vi.advanceTimersByTime(200);
    expect(errors.map((e) => e.message)).toEqual([
      `${topic}: message 0x00000009 incomplete: 4/10 chunks, none for 1000 ms; missing 1, 3, 4, 7, 8, 9`,
    ]);
    expect([reassembler.pendingMessages, reassembler.pendingBytes]).toEqual([0, 0]);
    feed(reassembler, chunks, [1]); // stragglers of an expired message are ignored
    expect([errors.length, reassembler.pendingMessages]).toEqual([1, 0]);
  });

  it("bounds memory: refuses oversize messages and messages past the pending budget", () => {
    const { reassembler, errors } = setup({ maxMessageBytes: 8_000, maxPendingBytes: 15_000 });
    const big = splitIntoChunks(message, { chunkBytes: 1_000, messageId: 1 });
    feed(reassembler, big, [0, 1, 2]);
    expect(errors.map((e) => e.message)).toEqual([
      `${topic}: chunk 0/10 of message 0x00000001: message of 10000 bytes is over this receiver's limit of 8000 bytes per message (maxMessageBytes)`,
    ]); // one error per message, not per chunk

    const a = splitIntoChunks(randomBytes(8_000), { chunkBytes: 1_000, messageId: 2 });
    const b = splitIntoChunks(randomBytes(8_000), { chunkBytes: 1_000, messageId: 3 });
    reassembler.push(at(0), a[0]!);
    reassembler.push(at(0), b[0]!);
    expect(reassembler.pendingBytes).toBe(8_001); // the buffer and one bit for each of its 8 chunks
    expect(errors[1]!.message).toBe(
      `${topic}: chunk 0/8 of message 0x00000003: 8001 more bytes would exceed this receiver's limit of 15000 bytes ` +
        "for messages being reassembled at once (maxPendingBytes; 8001 bytes held by 1 incomplete message)",
    );
    // Once the first message completes, its room is free for the next one (the refused one stays refused).
    expect(feed(reassembler, a, [1, 2, 3, 4, 5, 6, 7])).toHaveLength(1);
    reassembler.push(at(1), b[1]!);
    reassembler.push(at(0), splitIntoChunks(randomBytes(8_000), { chunkBytes: 1_000, messageId: 4 })[0]!);
    expect([reassembler.pendingBytes, reassembler.pendingMessages, errors.length]).toEqual([8_001, 1, 2]);
  });

  it("holds no more than the receiver's budget for headers that claim huge messages in 1-byte chunks", () => {
    const budget = 4 * 1024 * 1024;
    const { reassembler, errors } = setup({ maxMessageBytes: budget });
    expect(reassembler.options.maxPendingBytes).toBe(budget); // one budget for everything in flight
    // What a forger sends: a 41-byte packet per message, each header claiming 3 MiB in 1-byte chunks.
    const claimed = 3 * 1024 * 1024;
    for (let id = 0; id < 1000; id++) {
      reassembler.push(at(0), forgedChunk({ messageId: id, chunkCount: claimed, chunkBytes: 1, totalBytes: claimed }));
    }
    expect(reassembler.pendingMessages).toBe(1);
    expect(reassembler.pendingBytes).toBe(claimed + claimed / 8);
    expect(reassembler.pendingBytes).toBeLessThanOrEqual(budget);
    expect(errors).toHaveLength(999);
    expect(errors[0]!.message).toMatch(
      /would exceed this receiver's limit of 4194304 bytes for messages being reassembled at once/,
    );

    // A claim over the budget is refused outright, and a real message still gets through after the stall.
    reassembler.push(
      at(0),
      forgedChunk({ messageId: 5000, chunkCount: 1, chunkBytes: budget + 1, totalBytes: budget + 1 }),
    );
    expect(errors.at(-1)!.message).toMatch(
      /message of 4194305 bytes is over this receiver's limit of 4194304 bytes per message/,
    );
    reassembler.close();
    const real = splitIntoChunks(message, { chunkBytes: 1_000, messageId: 6000 });
    expect(feed(reassembler, real, [...real.keys()])[0]!.equals(message)).toBe(true);
  });

  it("close() drops incomplete messages quietly", () => {
    vi.useFakeTimers();
    const { reassembler, errors } = setup({ idleTimeoutMs: 10 });
    reassembler.push(at(0), splitIntoChunks(message, { chunkBytes: 1_000 })[0]!);
    reassembler.close();
    vi.advanceTimersByTime(100);
    expect([errors, reassembler.pendingMessages, reassembler.pendingBytes]).toEqual([[], 0, 0]);
  });

  it("refuses a packet on a topic that is not a chunk topic", () => {
    const { reassembler, errors } = setup();
    reassembler.push(topic, splitIntoChunks(message, { chunkBytes: 5_000 })[0]!);
    expect(errors[0]!.message).toBe(`${topic}: not a chunk topic (expected <topic>/c/<index>)`);
  });
});

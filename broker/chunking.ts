/**
 * Chunking: any payload (tensor frame, weight shard, image) larger than a broker's
 * packet limit travels as numbered chunks, and a Reassembler puts them back together.
 *
 * Topic scheme: a message for `<topic>` that fits one packet goes on `<topic>` as
 * is. One that does not goes as chunk i on `<topic>/c/<i>` (topics.ts chunkTopic).
 * The topic alone tells a whole message from a chunk, and each retained chunk keeps
 * its own topic, so a late subscriber to `<topic>/#` (or `<topic>/c/+`) gets every
 * chunk of a retained message and can rebuild it.
 *
 * Chunk layout (little-endian, 40-byte header, then this chunk's slice of the message):
 *
 * | offset | bytes | field      | notes                                                   |
 * |-------:|------:|------------|---------------------------------------------------------|
 * |      0 |     4 | magic      | ASCII "EFC1"                                            |
 * |      4 |     2 | version    | u16, 1                                                  |
 * |      6 |     2 | reserved   | 0                                                       |
 * |      8 |     4 | messageId  | u32; same for all chunks of one message                 |
 * |     12 |     4 | chunkIndex | u32, 0-based; equals the `<i>` of the topic             |
 * |     16 |     4 | chunkCount | u32 = ceil(totalBytes / chunkBytes)                     |
 * |     20 |     4 | chunkBytes | u32, data bytes in every chunk but the last             |
 * |     24 |     8 | totalBytes | u64, bytes of the whole message                         |
 * |     32 |     4 | crc32      | u32, CRC-32 (zlib) of the whole message                 |
 * |     36 |     4 | reserved   | 0                                                       |
 * |     40 |     … | data       | message bytes [index·chunkBytes, min(total, (index+1)·chunkBytes)) |
 *
 * Every chunk repeats count, size and CRC, so chunks may arrive in any order, the
 * first one to arrive sizes the buffer, and each later one is checked against it.
 * That first header is only a claim, so the receiver bounds what it will reserve for
 * claims (ReassemblerOptions: per message and for all incomplete ones together, tied
 * to its memory budget) and refuses the rest before allocating anything.
 * A retained message gets a content-derived messageId (its CRC), so republishing the
 * same shard rewrites identical chunks and a reader never sees two versions mixed.
 */
import { randomInt } from "node:crypto";
import { crc32 } from "node:zlib";
import { WireError } from "../core/errors.js";
import { splitChunkTopic } from "./topics.js";

export const CHUNK_MAGIC = "EFC1";
export const CHUNK_VERSION = 1;
export const CHUNK_HEADER_BYTES = 40;

/**
 * Bytes an MQTT PUBLISH adds around topic and payload: fixed header (1) + remaining
 * length (≤ 4) + topic length (2) + packet id (2), plus 16 for MQTT 5 properties
 * (property length and, e.g., a topic alias) so the same budget holds for v5.
 * MQTT 3.1.1 §2.2, §3.3.2; MQTT 5 §3.3.2.3.
 */
export const PUBLISH_OVERHEAD_BYTES = 1 + 4 + 2 + 2 + 16;
/** Longest `/c/<index>` suffix: "/c/" and ten digits. */
const CHUNK_SUFFIX_MAX_BYTES = 3 + 10;

/** One decoded chunk. `data` is a view into the received packet. */
export interface Chunk {
  messageId: number;
  chunkIndex: number;
  chunkCount: number;
  chunkBytes: number;
  totalBytes: number;
  crc32: number;
  data: Uint8Array;
}

/** A payload given as one buffer or as parts to be sent back to back (e.g. frameParts). */
export type Payload = Uint8Array | readonly Uint8Array[];

const partsOf = (payload: Payload): readonly Uint8Array[] => (payload instanceof Uint8Array ? [payload] : payload);

export function payloadBytes(payload: Payload): number {
  return partsOf(payload).reduce((n, p) => n + p.byteLength, 0);
}

/** Does a payload of `bytes` on `topic` fit into one packet of `maxPacketBytes`? */
export function fitsOnePacket(topic: string, bytes: number, maxPacketBytes: number): boolean {
  return PUBLISH_OVERHEAD_BYTES + Buffer.byteLength(topic) + bytes <= maxPacketBytes;
}

/** Data bytes per chunk so that every chunk of a message for `topic` fits `maxPacketBytes`. */
export function chunkDataBytes(topic: string, maxPacketBytes: number): number {
  const room =
    maxPacketBytes - PUBLISH_OVERHEAD_BYTES - Buffer.byteLength(topic) - CHUNK_SUFFIX_MAX_BYTES - CHUNK_HEADER_BYTES;
  if (room < 1) throw new RangeError(`maxPacketBytes ${maxPacketBytes} leaves no room for data on ${topic}`);
  return room;
}

export interface SplitOptions {
  /** Data bytes per chunk (see chunkDataBytes). */
  chunkBytes: number;
  /**
   * A u32, or "crc32" to use the payload's CRC (for retained messages: see the file
   * comment). Defaults to a random u32, so two sends of the same bytes stay two messages.
   */
  messageId?: number | "crc32";
}

/**
 * Splits a payload into encoded chunks (header + slice). Each byte is copied once,
 * straight from the parts into its chunk, so a frame given as frameParts is never
 * concatenated first.
 */
export function splitIntoChunks(payload: Payload, { chunkBytes, messageId }: SplitOptions): Buffer[] {
  const parts = partsOf(payload);
  const totalBytes = payloadBytes(parts);
  if (totalBytes === 0) throw new RangeError("nothing to chunk: the payload is empty");
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > 0xffffffff) {
    throw new RangeError(`chunkBytes ${chunkBytes} is not a positive u32`);
  }
  const crc = parts.reduce((c, p) => crc32(p, c), 0);
  const id = messageId === "crc32" ? crc : (messageId ?? randomInt(0, 2 ** 32 - 1));
  const chunkCount = Math.ceil(totalBytes / chunkBytes);
  const chunks: Buffer[] = [];
  let part = 0;
  let partOffset = 0;
  for (let index = 0; index < chunkCount; index++) {
    const size = Math.min(chunkBytes, totalBytes - index * chunkBytes);
    const chunk = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + size);
    writeChunkHeader(chunk, { messageId: id, chunkIndex: index, chunkCount, chunkBytes, totalBytes, crc32: crc });
    let filled = 0;
    while (filled < size) {
      const source = parts[part]!;
      const n = Math.min(size - filled, source.byteLength - partOffset);
      chunk.set(source.subarray(partOffset, partOffset + n), CHUNK_HEADER_BYTES + filled);
      filled += n;
      partOffset += n;
      if (partOffset === source.byteLength) {
        part++;
        partOffset = 0;
      }
    }
    chunks.push(chunk);
  }
  return chunks;
}

function writeChunkHeader(buf: Buffer, h: Omit<Chunk, "data">): void {
  buf.write(CHUNK_MAGIC, 0, "ascii");
  buf.writeUInt16LE(CHUNK_VERSION, 4);
  buf.writeUInt16LE(0, 6);
  buf.writeUInt32LE(h.messageId, 8);
  buf.writeUInt32LE(h.chunkIndex, 12);
  buf.writeUInt32LE(h.chunkCount, 16);
  buf.writeUInt32LE(h.chunkBytes, 20);
  buf.writeBigUInt64LE(BigInt(h.totalBytes), 24);
  buf.writeUInt32LE(h.crc32, 32);
  buf.writeUInt32LE(0, 36);
}

/** Reads and checks one chunk on its own; `where` (the topic) names it in errors. */
export function decodeChunk(bytes: Uint8Array, where = "chunk"): Chunk {
  const fail = (problem: string): never => {
    throw new WireError(where, problem);
  };
  if (bytes.byteLength < CHUNK_HEADER_BYTES) {
    fail(`truncated chunk: ${bytes.byteLength} bytes, the header alone is ${CHUNK_HEADER_BYTES}`);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = buf.toString("latin1", 0, 4);
  if (magic !== CHUNK_MAGIC) fail(`bad chunk magic ${JSON.stringify(magic)}, expected ${JSON.stringify(CHUNK_MAGIC)}`);
  const version = buf.readUInt16LE(4);
  if (version !== CHUNK_VERSION) fail(`unsupported chunk version ${version}, this build reads ${CHUNK_VERSION}`);
  const total = buf.readBigUInt64LE(24);
  if (total < 1n || total > BigInt(Number.MAX_SAFE_INTEGER)) fail(`totalBytes ${total} out of range`);
  const chunk: Chunk = {
    messageId: buf.readUInt32LE(8),
    chunkIndex: buf.readUInt32LE(12),
    chunkCount: buf.readUInt32LE(16),
    chunkBytes: buf.readUInt32LE(20),
    totalBytes: Number(total),
    crc32: buf.readUInt32LE(32),
    data: buf.subarray(CHUNK_HEADER_BYTES),
  };
  const { chunkIndex, chunkCount, chunkBytes, totalBytes } = chunk;
  if (chunkBytes < 1) fail("chunkBytes is 0");
  if (chunkCount !== Math.ceil(totalBytes / chunkBytes)) {
    fail(`chunkCount ${chunkCount} ≠ ceil(${totalBytes} / ${chunkBytes})`);
  }
  if (chunkIndex >= chunkCount) fail(`chunk index ${chunkIndex} ≥ chunk count ${chunkCount}`);
  const expected = Math.min(chunkBytes, totalBytes - chunkIndex * chunkBytes);
  if (chunk.data.byteLength !== expected) {
    fail(`chunk ${chunkIndex}/${chunkCount} carries ${chunk.data.byteLength} data bytes, expected ${expected}`);
  }
  return chunk;
}

// ---------------------------------------------------------------------------
// reassembly

export interface ReassemblerOptions {
  /** An incomplete message that gets no new chunk for this long is dropped with an error. */
  idleTimeoutMs: number;
  /**
   * Largest message accepted (its totalBytes); larger ones are refused at their first
   * chunk. A device gives its memory budget here: what a chunk header claims is
   * reserved at that first chunk, so the claim must be bounded by what the receiver has.
   */
  maxMessageBytes: number;
  /**
   * Bound on the memory of all incomplete messages together (their buffers and the
   * record of which chunks arrived); a message past it is refused at its first chunk.
   * Defaults to maxMessageBytes: one receiver's budget bounds everything it is
   * reassembling at once, not each message on its own.
   */
  maxPendingBytes: number;
  /** How many finished (or refused) messages to remember, so their late duplicates are ignored. */
  rememberSettled: number;
  /**
   * Where a message goes instead of a fresh buffer (see Placement), asked at its first
   * chunk with its base topic and size; undefined, pieces that do not add up to the
   * size, or a throw get the fresh buffer.
   */
  place?: (topic: string, totalBytes: number) => Placement | undefined;
}

/**
 * A message reassembled into memory its receiver chose: pieces filled in order, whose
 * lengths add up to the message's size. A receiver that would copy the message
 * somewhere anyway places it there directly, so it never holds the message twice: a
 * worker puts a tensor around the slice it kept from the job's previous layer (the
 * executor's reuse), which else needs the whole received tensor and the rebuilt input
 * at once (10 + 12 MB for a YOLOv2 layer-2 slice at N = 6).
 */
export type Placement = readonly Uint8Array[];

/**
 * For a receiver that does not say what memory it has: room for the largest shard a
 * device of a few GB is sent whole, and, as maxPendingBytes defaults to it, for
 * everything being reassembled at once. Devices pass their budget instead.
 */
export const reassemblerDefaults = {
  // A 20 MB shard over 10 Mbit/s takes ~16 s; the clock restarts at every chunk.
  idleTimeoutMs: 30_000,
  maxMessageBytes: 512 * 1024 * 1024,
  rememberSettled: 1024,
} satisfies Omit<ReassemblerOptions, "maxPendingBytes">;

/**
 * Memory a message holds while it is reassembled: its buffer and one bit per chunk
 * that says whether it arrived (which a header of 1-byte chunks makes as large as
 * an eighth of the message).
 */
export const reassemblyBytes = (chunk: Pick<Chunk, "totalBytes" | "chunkCount">): number =>
  chunk.totalBytes + Math.ceil(chunk.chunkCount / 8);

/**
 * A message put back together. `topic` is the base topic (without `/c/<i>`). When the
 * message was placed, `placement` holds it and `payload` is its first piece.
 */
export interface Reassembled {
  topic: string;
  payload: Buffer;
  placement?: Placement;
}

interface Pending {
  topic: string;
  messageId: number;
  first: Chunk;
  /** The message's memory: one fresh buffer, or the pieces of a placement. */
  pieces: Placement;
  placed: boolean;
  /** One bit per chunk, set when it arrived. */
  received: Uint8Array;
  receivedCount: number;
  /** What the message counts against maxPendingBytes (reassemblyBytes). */
  heldBytes: number;
  timer: NodeJS.Timeout;
}

/**
 * Rebuilds chunked messages. Feed it every chunk topic's packets with push();
 * it returns the whole message when the last chunk lands. Out-of-order and
 * duplicate chunks are fine. Each problem goes to `onError` as a WireError naming
 * the topic and what is wrong: a malformed or inconsistent chunk is dropped (its
 * message may still complete), a message over the receiver's limits (maxMessageBytes,
 * maxPendingBytes) is refused at its first chunk, before anything is allocated for it,
 * a message that stalls for idleTimeoutMs is dropped, and a message whose CRC
 * does not match is dropped. Nothing else is affected.
 */
export class Reassembler {
  readonly options: ReassemblerOptions;
  private readonly pending = new Map<string, Pending>();
  private readonly settled = new Map<string, "done" | "refused">();
  private pendingBytesNow = 0;

  constructor(
    private readonly onError: (error: WireError) => void,
    options: Partial<ReassemblerOptions> = {},
  ) {
    const { maxPendingBytes, ...rest } = options;
    const merged = { ...reassemblerDefaults, ...rest };
    this.options = { ...merged, maxPendingBytes: maxPendingBytes ?? merged.maxMessageBytes };
  }

  /** Bytes held by incomplete messages (their buffers and chunk records). */
  get pendingBytes(): number {
    return this.pendingBytesNow;
  }

  get pendingMessages(): number {
    return this.pending.size;
  }

  /** Takes one packet received on a chunk topic `<topic>/c/<i>`; an empty one (a retained deletion) is ignored. */
  push(chunkTopic: string, bytes: Uint8Array): Reassembled | undefined {
    const split = splitChunkTopic(chunkTopic);
    if (!split) return this.report(new WireError(chunkTopic, "not a chunk topic (expected <topic>/c/<index>)"));
    // An empty payload is how MQTT deletes a retained message (clearRetainedChunks sends
    // one per chunk of a replaced shard or plan): nothing arrived, so nothing to report.
    if (bytes.byteLength === 0) return undefined;
    let chunk: Chunk;
    try {
      chunk = decodeChunk(bytes, chunkTopic);
    } catch (err) {
      return this.report(err as WireError);
    }
    const { base } = split;
    const label = `chunk ${chunk.chunkIndex}/${chunk.chunkCount} of message ${hex(chunk.messageId)}`;
    if (chunk.chunkIndex !== split.chunkIndex) {
      return this.report(new WireError(chunkTopic, `${label}: header index ≠ topic index ${split.chunkIndex}`));
    }
    const key = `${base}\n${chunk.messageId}`;
    if (this.settled.has(key)) return undefined; // a late duplicate of a finished or refused message

    let entry = this.pending.get(key);
    if (!entry) {
      const refusal = this.admissionProblem(chunk);
      if (refusal) return this.refuse(key, new WireError(base, `${label}: ${refusal}`));
      entry = this.open(key, base, chunk);
    } else {
      const mismatch = inconsistency(entry.first, chunk);
      // Refuse the chunk, not the message: the genuine chunks may still complete it.
      if (mismatch) return this.report(new WireError(base, `${label}: inconsistent with earlier chunks: ${mismatch}`));
      entry.timer.refresh();
    }
    if (hasBit(entry.received, chunk.chunkIndex)) return undefined; // duplicate chunk (QoS 1 redelivery, retained replay)
    setBit(entry.received, chunk.chunkIndex);
    entry.receivedCount++;
    writeAt(entry.pieces, chunk.chunkIndex * chunk.chunkBytes, chunk.data);
    if (entry.receivedCount < chunk.chunkCount) return undefined;

    this.close1(key, "done");
    const actual = entry.pieces.reduce((crc, piece) => crc32(piece, crc), 0);
    if (actual !== chunk.crc32) {
      return this.report(
        new WireError(
          base,
          `message ${hex(chunk.messageId)}: CRC-32 ${hex(actual)} ≠ ${hex(chunk.crc32)} in its chunks`,
        ),
      );
    }
    const first = entry.pieces[0]!;
    const payload = Buffer.isBuffer(first) ? first : Buffer.from(first.buffer, first.byteOffset, first.byteLength);
    return entry.placed ? { topic: base, payload, placement: entry.pieces } : { topic: base, payload };
  }

  /** Drops every incomplete message silently and stops all timers. */
  close(): void {
    for (const entry of this.pending.values()) clearTimeout(entry.timer);
    this.pending.clear();
    this.pendingBytesNow = 0;
  }

  /** Why a message whose first chunk is `chunk` cannot be taken in, naming the limit; null when it can. */
  private admissionProblem(chunk: Chunk): string | null {
    const { maxMessageBytes, maxPendingBytes } = this.options;
    if (chunk.totalBytes > maxMessageBytes)
      return `message of ${chunk.totalBytes} bytes is over this receiver's limit of ${maxMessageBytes} bytes per message (maxMessageBytes)`;
    const needs = reassemblyBytes(chunk);
    if (this.pendingBytesNow + needs > maxPendingBytes) {
      const held = `${this.pendingBytesNow} bytes held by ${this.pending.size} incomplete message${this.pending.size === 1 ? "" : "s"}`;
      return `${needs} more bytes would exceed this receiver's limit of ${maxPendingBytes} bytes for messages being reassembled at once (maxPendingBytes; ${held})`;
    }
    return null;
  }

  private open(key: string, topic: string, first: Chunk): Pending {
    const timer = setTimeout(() => this.expire(key), this.options.idleTimeoutMs);
    timer.unref(); // a pending message alone must not keep a process alive
    const placement = this.placementFor(topic, first.totalBytes);
    const entry: Pending = {
      topic,
      messageId: first.messageId,
      first,
      pieces: placement ?? [Buffer.allocUnsafe(first.totalBytes)],
      placed: placement !== undefined,
      received: new Uint8Array(Math.ceil(first.chunkCount / 8)),
      receivedCount: 0,
      heldBytes: reassemblyBytes(first),
      timer,
    };
    this.pending.set(key, entry);
    this.pendingBytesNow += entry.heldBytes;
    return entry;
  }

  /** The receiver's placement for a message, if it gives one that fits (see ReassemblerOptions.place). */
  private placementFor(topic: string, totalBytes: number): Placement | undefined {
    let placement: Placement | undefined;
    try {
      placement = this.options.place?.(topic, totalBytes);
    } catch {
      return undefined; // the receiver could not place it: a fresh buffer still gets the message through
    }
    return placement?.reduce((n, p) => n + p.byteLength, 0) === totalBytes ? placement : undefined;
  }

  private expire(key: string): void {
    const entry = this.pending.get(key);
    if (!entry) return;
    const missing: number[] = [];
    for (let i = 0; i < entry.first.chunkCount && missing.length < 10; i++)
      if (!hasBit(entry.received, i)) missing.push(i);
    const more = entry.first.chunkCount - entry.receivedCount > missing.length ? ", …" : "";
    this.refuse(
      key,
      new WireError(
        entry.topic,
        `message ${hex(entry.messageId)} incomplete: ${entry.receivedCount}/${entry.first.chunkCount} chunks, ` +
          `none for ${this.options.idleTimeoutMs} ms; missing ${missing.join(", ")}${more}`,
      ),
    );
  }

  private refuse(key: string, error: WireError): undefined {
    this.close1(key, "refused");
    return this.report(error);
  }

  private close1(key: string, outcome: "done" | "refused"): void {
    const entry = this.pending.get(key);
    if (entry) {
      clearTimeout(entry.timer);
      this.pending.delete(key);
      this.pendingBytesNow -= entry.heldBytes;
    }
    this.settled.set(key, outcome);
    if (this.settled.size > this.options.rememberSettled) this.settled.delete(this.settled.keys().next().value!);
  }

  private report(error: WireError): undefined {
    this.onError(error);
    return undefined;
  }
}

const hasBit = (bits: Uint8Array, i: number) => (bits[i >>> 3]! & (1 << (i & 7))) !== 0;
const setBit = (bits: Uint8Array, i: number) => {
  bits[i >>> 3] = bits[i >>> 3]! | (1 << (i & 7));
};

/** Copies `data` to byte `offset` of the message laid out in `pieces` (a chunk may span pieces). */
function writeAt(pieces: Placement, offset: number, data: Uint8Array): void {
  let start = 0;
  for (const piece of pieces) {
    const end = start + piece.byteLength;
    if (offset < end && data.byteLength > 0) {
      const n = Math.min(end - offset, data.byteLength);
      piece.set(data.subarray(0, n), offset - start);
      data = data.subarray(n);
      offset += n;
    }
    start = end;
  }
}

function inconsistency(first: Chunk, next: Chunk): string | null {
  for (const field of ["chunkCount", "chunkBytes", "totalBytes", "crc32"] as const) {
    const show = (n: number) => (field === "crc32" ? hex(n) : String(n));
    if (first[field] !== next[field]) return `${field} ${show(next[field])} ≠ ${show(first[field])}`;
  }
  return null;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;

/**
 * The embedded broker's limits on what one client can make it hold, each a small
 * piece server.ts wires into aedes: the size of a packet (read off its MQTT fixed
 * header before the body arrives), the bytes of retained messages, and a rate on the
 * requests a client sends. aedes 1.x has none of these itself.
 */
import type { Duplex } from "node:stream";
import { splitChunkTopic, TOPIC_ROOT } from "./topics.js";

export interface BrokerLimits {
  /**
   * Largest MQTT packet a client may send, fixed header included; a client that sends
   * a bigger one is dropped as soon as the header announces it (as Mosquitto's
   * `max_packet_size` does: MQTT 3.1.1 has no way to refuse one packet).
   */
  maxPacketBytes: number;
  /** Bound on all retained messages together (payload and topic); past it a message is delivered but not retained. */
  maxRetainedBytes: number;
  /** Longest client id accepted, in UTF-8 bytes; a longer one gets CONNACK "identifier rejected". */
  maxClientIdBytes: number;
  /** Packets per second, and the burst above that rate, that one client may send on request topics (`…/infer/…`). */
  requestRate: { perSecond: number; burst: number };
}

export const brokerLimitDefaults = {
  // 64 default-size chunks (client.ts DEFAULT_MAX_PACKET_BYTES, 256 KiB): room for any
  // --max-packet a device is likely given and for a camera's whole JPEG, while one
  // connection can make the broker buffer no more than this for a packet.
  maxPacketBytes: 16 * 1024 * 1024,
  // Retained are presences, the plan, the last result and its annotated image, and Home
  // Assistant configs: well under a MB for a deployment. 64 MiB leaves room for a large
  // chunked plan (the contract retains 20 MB) but not for a client that retains 8 × 64 MB.
  maxRetainedBytes: 64 * 1024 * 1024,
  // edgefuse's own ids are `worker-<id>`, `planner-<deployment>`, … with ids of at most
  // 64 characters; tools add a UUID or so. MQTT 5 allows 65535 bytes, but every id is
  // kept by the traffic meter and printed in logs, so a 60,000-character one is refused.
  maxClientIdBytes: 256,
  // A request is a whole inference on the source; the source answers a bad one at
  // ~700/s. 200 packets/s keeps a flooding client well below that while carrying a few
  // chunked images per second (a 3 MB image is 13 packets at 256 KiB). The burst is what
  // a flood puts ahead of another client's request at once: 200 of them, ~0.3 s of the
  // source's work (a burst of 1000 measured 1.7 s); an image sent at --max-packet 4096
  // (750 packets) is paced over ~3 s.
  requestRate: { perSecond: 200, burst: 200 },
} satisfies BrokerLimits;

// ---------------------------------------------------------------------------
// packet size

/**
 * Follows the MQTT packets on a connection (MQTT 3.1.1 §2.2: a type byte, then the
 * remaining length in 1–4 bytes of 7 bits each) and calls `onOversize` once, with the
 * packet's size, when a fixed header announces a packet over `maxPacketBytes`. It only
 * listens: aedes reads the connection, and a `data` listener beside its `readable` one
 * sees each read as aedes makes it, so a packet is judged before its body is buffered.
 */
export function watchPacketSizes(conn: Duplex, maxPacketBytes: number, onOversize: (bytes: number) => void): void {
  const scanner = new PacketScanner(maxPacketBytes, onOversize);
  const listener = (data: Buffer) => {
    if (!scanner.feed(data)) conn.off("data", listener);
  };
  conn.on("data", listener);
}

/** The state machine of watchPacketSizes, fed the bytes of one connection in order. */
export class PacketScanner {
  private phase: "type" | "length" | "body" = "type";
  private length = 0;
  private lengthBytes = 0;
  private bodyLeft = 0;

  constructor(
    private readonly maxPacketBytes: number,
    private readonly onOversize: (bytes: number) => void,
  ) {}

  /** Takes the next bytes; false once it stops (an oversize packet, or a length MQTT does not allow: aedes' parser says what is wrong). */
  feed(data: Uint8Array): boolean {
    let i = 0;
    while (i < data.byteLength) {
      if (this.phase === "body") {
        const n = Math.min(this.bodyLeft, data.byteLength - i);
        this.bodyLeft -= n;
        i += n;
        if (this.bodyLeft === 0) this.phase = "type";
        continue;
      }
      const byte = data[i++]!;
      if (this.phase === "type") {
        this.phase = "length";
        this.length = 0;
        this.lengthBytes = 0;
        continue;
      }
      this.length += (byte & 0x7f) * 128 ** this.lengthBytes;
      this.lengthBytes++;
      if (byte & 0x80) {
        if (this.lengthBytes === 4) return false; // a fifth length byte: malformed
        continue;
      }
      const packetBytes = 1 + this.lengthBytes + this.length;
      if (packetBytes > this.maxPacketBytes) {
        this.onOversize(packetBytes);
        return false;
      }
      this.bodyLeft = this.length;
      this.phase = this.length === 0 ? "type" : "body";
    }
    return true;
  }
}

// ---------------------------------------------------------------------------
// retained bytes

/**
 * What the retained store holds, by topic, as the broker let it in: a retained message
 * replaces the one on its topic, an empty one removes it (MQTT 3.1.1 §3.3.1.3).
 */
export class RetainedBudget {
  private readonly held = new Map<string, number>();
  private total = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.total;
  }

  /**
   * Takes a retained message on `topic` into the count when it fits; false when it
   * would take the store past maxBytes (the store keeps what it had).
   */
  admit(topic: string, payloadBytes: number): boolean {
    const before = this.held.get(topic) ?? 0;
    if (payloadBytes === 0) {
      this.held.delete(topic);
      this.total -= before;
      return true;
    }
    const size = payloadBytes + Buffer.byteLength(topic);
    if (this.total - before + size > this.maxBytes) return false;
    this.held.set(topic, size);
    this.total += size - before;
    return true;
  }
}

// ---------------------------------------------------------------------------
// request rate

/** `edgefuse/v1/<deployment>/infer…` and its chunks, whether or not the request id is valid: the source reads them all. */
export function isRequestTopic(topic: string): boolean {
  const base = splitChunkTopic(topic)?.base ?? topic;
  if (!base.startsWith(`${TOPIC_ROOT}/`)) return false;
  return base.slice(TOPIC_ROOT.length + 1).split("/")[1] === "infer";
}

/**
 * A token bucket that paces rather than drops: take() says how long to wait before the
 * packet may go on (0 when a token is there). Tokens may go negative, so packets that
 * come together queue one after another at the rate.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: { perSecond: number; burst: number },
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = rate.burst;
    this.last = now();
  }

  /** Milliseconds until the packet that takes this token may go. */
  take(): number {
    const now = this.now();
    this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.last) / 1000) * this.rate.perSecond);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate.perSecond) * 1000;
  }
}

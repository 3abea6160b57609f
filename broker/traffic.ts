/**
 * Per-client traffic counters for the embedded broker.
 *
 * bytesIn/bytesOut are read from the TCP socket (`socket.bytesRead/bytesWritten`),
 * so they are what crossed the link: MQTT headers, acks, pings and, for WebSocket
 * clients, the WebSocket framing too. messagesIn counts PUBLISH packets a client
 * sent; messagesOut counts PUBLISH packets the broker forwarded to it. The same
 * message counts and their payload bytes are also kept per topic kind.
 *
 * Counters belong to the client id and add up over reconnects. A connection that
 * never completes CONNECT (refused, garbage) counts under UNIDENTIFIED_CLIENT.
 */
import type { Socket } from "node:net";
import { parseTopic, type TopicKind } from "./topics.js";

export const UNIDENTIFIED_CLIENT = "(no client id)";

/**
 * A worker device's MQTT client id. The broker counts traffic per client id, so the
 * bytes on a device's link are found under this name (traffic comparisons, the lab).
 */
export const workerClientId = (deviceId: string): string => `worker-${deviceId}`;
const WORKER_CLIENT_PREFIX = workerClientId("");
/** The device id behind a workerClientId, or null for any other client. */
export const deviceOfWorkerClient = (clientId: string): string | null =>
  clientId.startsWith(WORKER_CLIENT_PREFIX) ? clientId.slice(WORKER_CLIENT_PREFIX.length) : null;

export interface MessageCounters {
  messagesIn: number;
  messagesOut: number;
  /** PUBLISH payload bytes only (no MQTT headers). */
  payloadBytesIn: number;
  payloadBytesOut: number;
}

/** Topic kinds of topics.ts, plus "other" for anything outside edgefuse's topics. */
export type TopicClass = TopicKind | "other";

export interface ClientTraffic {
  /** Bytes the broker read from this client's socket(s). */
  bytesIn: number;
  /** Bytes the broker wrote to this client's socket(s). */
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
  byTopicClass: Partial<Record<TopicClass, MessageCounters>>;
  /** Job tensors (`job/…/layer/<l>/…`, chunks included) by layer: set beside the plan's modelled C per layer. */
  byLayer: Record<number, MessageCounters>;
}

const emptyTraffic = (): ClientTraffic => ({
  bytesIn: 0,
  bytesOut: 0,
  messagesIn: 0,
  messagesOut: 0,
  byTopicClass: {},
  byLayer: {},
});
const emptyCounters = (): MessageCounters => ({ messagesIn: 0, messagesOut: 0, payloadBytesIn: 0, payloadBytesOut: 0 });

/** The value under `key`, made by `make` and kept there the first time it is asked for. */
function entryOf<K extends PropertyKey, V>(table: Partial<Record<K, V>>, key: K, make: () => V): V {
  const found = table[key];
  if (found !== undefined) return found;
  const made = make();
  table[key] = made;
  return made;
}

export const topicClass = (topic: string): TopicClass => parseTopic(topic)?.kind ?? "other";

export class TrafficMeter {
  /** Totals, including closed sockets. */
  private readonly totals = new Map<string, ClientTraffic>();
  /** Open sockets and the client id they belong to (once known). */
  private readonly open = new Map<Socket, { clientId: string | null }>();

  /** Starts counting a connection's socket. */
  track(socket: Socket): void {
    const entry = { clientId: null as string | null };
    this.open.set(socket, entry);
    socket.once("close", () => {
      const t = this.entry(entry.clientId ?? UNIDENTIFIED_CLIENT);
      t.bytesIn += socket.bytesRead;
      t.bytesOut += socket.bytesWritten;
      this.open.delete(socket);
    });
  }

  /** The socket's connection completed CONNECT as `clientId`. */
  identify(socket: Socket, clientId: string): void {
    const entry = this.open.get(socket);
    if (entry) entry.clientId = clientId;
  }

  published(clientId: string, topic: string, payloadBytes: number): void {
    const t = this.entry(clientId);
    t.messagesIn++;
    for (const c of this.counters(t, topic)) {
      c.messagesIn++;
      c.payloadBytesIn += payloadBytes;
    }
  }

  forwarded(clientId: string, topic: string, payloadBytes: number): void {
    const t = this.entry(clientId);
    t.messagesOut++;
    for (const c of this.counters(t, topic)) {
      c.messagesOut++;
      c.payloadBytesOut += payloadBytes;
    }
  }

  /** A copy of every client's counters, open sockets included up to now. */
  snapshot(): Record<string, ClientTraffic> {
    const out: Record<string, ClientTraffic> = {};
    for (const [id, t] of this.totals) out[id] = structuredClone(t);
    for (const [socket, { clientId }] of this.open) {
      const t = entryOf(out, clientId ?? UNIDENTIFIED_CLIENT, emptyTraffic);
      t.bytesIn += socket.bytesRead;
      t.bytesOut += socket.bytesWritten;
    }
    return out;
  }

  private entry(clientId: string): ClientTraffic {
    const found = this.totals.get(clientId);
    if (found) return found;
    const made = emptyTraffic();
    this.totals.set(clientId, made);
    return made;
  }

  /** The per-kind counters of a topic, and its per-layer ones for job tensors. */
  private counters(t: ClientTraffic, topic: string): MessageCounters[] {
    const parsed = parseTopic(topic);
    const kind = entryOf(t.byTopicClass, parsed?.kind ?? "other", emptyCounters);
    return parsed && "layer" in parsed ? [kind, entryOf(t.byLayer, parsed.layer, emptyCounters)] : [kind];
  }
}

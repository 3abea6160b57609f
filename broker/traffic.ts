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
 *
 * The meter keeps every connected client and the last `rememberDeparted` clients to
 * leave; older ones are added into EARLIER_CLIENTS and forgotten, so a broker that sees
 * many short-lived ids (tools, reconnecting cameras, a client inventing ids) holds a
 * bounded table and still accounts for every byte.
 */
import type { Socket } from "node:net";
import { parseTopic, type TopicKind } from "./topics.js";

export const UNIDENTIFIED_CLIENT = "(no client id)";
/** Where the counters of clients that left before the last `rememberDeparted` are added up. */
export const EARLIER_CLIENTS = "(earlier clients)";

export const trafficMeterDefaults = {
  // A lab run has tens of clients; a thousand covers many runs of reconnecting devices
  // and tools, at ~1 KB of counters each.
  rememberDeparted: 1000,
};

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

/** Adds every counter of `from` into `into`. */
function addTraffic(into: ClientTraffic, from: ClientTraffic): void {
  into.bytesIn += from.bytesIn;
  into.bytesOut += from.bytesOut;
  into.messagesIn += from.messagesIn;
  into.messagesOut += from.messagesOut;
  const tables: [Partial<Record<PropertyKey, MessageCounters>>, Partial<Record<PropertyKey, MessageCounters>>][] = [
    [into.byTopicClass, from.byTopicClass],
    [into.byLayer, from.byLayer],
  ];
  for (const [to, source] of tables) {
    for (const [key, c] of Object.entries(source)) {
      const sum = entryOf(to, key, emptyCounters);
      sum.messagesIn += c!.messagesIn;
      sum.messagesOut += c!.messagesOut;
      sum.payloadBytesIn += c!.payloadBytesIn;
      sum.payloadBytesOut += c!.payloadBytesOut;
    }
  }
}

export class TrafficMeter {
  /** Totals, including closed sockets. */
  private readonly totals = new Map<string, ClientTraffic>();
  /** Open sockets and the client id they belong to (once known). */
  private readonly open = new Map<Socket, { clientId: string | null }>();
  /** How many open sockets each identified client id has. */
  private readonly connected = new Map<string, number>();
  /** Client ids with no open socket, in the order they left (the first is forgotten first). */
  private readonly departed = new Set<string>();
  private readonly rememberDeparted: number;

  constructor(options: Partial<typeof trafficMeterDefaults> = {}) {
    this.rememberDeparted = { ...trafficMeterDefaults, ...options }.rememberDeparted;
  }

  /** Client ids the meter holds counters for (EARLIER_CLIENTS and UNIDENTIFIED_CLIENT included). */
  get clientCount(): number {
    return this.totals.size;
  }

  /** Starts counting a connection's socket. */
  track(socket: Socket): void {
    const entry = { clientId: null as string | null };
    this.open.set(socket, entry);
    socket.once("close", () => {
      const id = entry.clientId ?? UNIDENTIFIED_CLIENT;
      const t = this.entry(id);
      t.bytesIn += socket.bytesRead;
      t.bytesOut += socket.bytesWritten;
      this.open.delete(socket);
      if (entry.clientId !== null) this.disconnected(entry.clientId);
    });
  }

  /** The socket's connection completed CONNECT as `clientId`. */
  identify(socket: Socket, clientId: string): void {
    const entry = this.open.get(socket);
    if (!entry || entry.clientId !== null) return;
    entry.clientId = clientId;
    this.connected.set(clientId, (this.connected.get(clientId) ?? 0) + 1);
    this.departed.delete(clientId);
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
    // Counted with no socket open (aedes reports a publish after the client left): it
    // departs at once, so it is forgotten in turn like any other.
    if (clientId !== UNIDENTIFIED_CLIENT && clientId !== EARLIER_CLIENTS && !this.connected.has(clientId))
      this.depart(clientId);
    return made;
  }

  private disconnected(clientId: string): void {
    const n = (this.connected.get(clientId) ?? 1) - 1;
    if (n > 0) {
      this.connected.set(clientId, n);
      return;
    }
    this.connected.delete(clientId);
    this.depart(clientId);
  }

  /** Marks `clientId` as gone, and adds the longest-gone beyond rememberDeparted into EARLIER_CLIENTS. */
  private depart(clientId: string): void {
    this.departed.delete(clientId); // to the end: the most recent to leave
    this.departed.add(clientId);
    while (this.departed.size > this.rememberDeparted) {
      const oldest = this.departed.values().next().value!;
      this.departed.delete(oldest);
      const t = this.totals.get(oldest);
      this.totals.delete(oldest);
      if (t) addTraffic(this.entry(EARLIER_CLIENTS), t);
    }
  }

  /** The per-kind counters of a topic, and its per-layer ones for job tensors. */
  private counters(t: ClientTraffic, topic: string): MessageCounters[] {
    const parsed = parseTopic(topic);
    const kind = entryOf(t.byTopicClass, parsed?.kind ?? "other", emptyCounters);
    return parsed && "layer" in parsed ? [kind, entryOf(t.byLayer, parsed.layer, emptyCounters)] : [kind];
  }
}

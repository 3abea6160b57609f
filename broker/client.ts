/**
 * A thin layer over mqtt.js 5: connect with a clear error, and publish/subscribe
 * payloads of any size through chunking.ts.
 *
 * ```ts
 * const client = await connectBroker(url, { clientId: "w1", will: { topic: topics.worker("w1"), payload: "", retain: true } });
 * await publishChunked(client, topics.partOut(jobId, 12, 3), frameParts(meta, data), { maxPacketBytes: DEFAULT_MAX_PACKET_BYTES });
 * const sub = await subscribeChunked(client, topics.filters.partIn({ jobId }), {
 *   onMessage: (topic, payload) => handle(topics.parse(topic), decodeFrame(payload, topic)),
 *   onError: (err, topic) => report(err, topic),
 * });
 * await sub.unsubscribe();
 * ```
 */
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { errorMessage } from "../core/errors.js";
import {
  Reassembler,
  chunkDataBytes,
  fitsOnePacket,
  payloadBytes,
  splitIntoChunks,
  type Payload,
  type Placement,
  type ReassemblerOptions,
} from "./chunking.js";
import { BrokerError } from "./errors.js";
import type { ClientTls } from "./tls.js";
import { chunkFilter, chunkTopic, splitChunkTopic, topicMatches } from "./topics.js";

export type { MqttClient } from "mqtt";
export type QoS = 0 | 1 | 2;

export interface ConnectOptions {
  clientId?: string;
  username?: string;
  password?: string;
  /** Last will, e.g. an empty retained payload on the worker's presence topic. */
  will?: { topic: string; payload: Uint8Array | string; retain?: boolean; qos?: QoS };
  /** 4 = MQTT 3.1.1 (the only one aedes speaks), 5 = MQTT 5. */
  protocolVersion: 4 | 5;
  /** Give up the first connection after this long. */
  connectTimeoutMs: number;
  /** After a connection is lost, retry every this many ms; 0 = stay down. */
  reconnectPeriodMs: number;
  /** MQTT clean session (3.1.1) / clean start (5). */
  clean: boolean;
  keepaliveSec: number;
  /** For mqtts:// and wss://: the CA to trust instead of the system's, and a client certificate (tls.ts clientTls). */
  tls?: ClientTls;
}

export const connectDefaults = {
  protocolVersion: 4,
  connectTimeoutMs: 5_000,
  reconnectPeriodMs: 1_000,
  clean: true,
  keepaliveSec: 30,
} satisfies Partial<ConnectOptions>;

/** The broker's own packet limit, when it advertised one (MQTT 5 CONNACK Maximum Packet Size). */
const advertisedMaxPacketBytes = new WeakMap<MqttClient, number>();

/**
 * Connects to `url` (`mqtt://host:port`, `ws://host:port`; over TLS `mqtts://`, `wss://`,
 * with `tls` when the broker's certificate is not signed by a CA the system trusts). Resolves once the
 * broker accepted us; rejects with a BrokerError naming the URL when it refuses,
 * is unreachable or does not answer within connectTimeoutMs. After that first
 * connection, mqtt.js reconnects on its own every reconnectPeriodMs.
 */
export async function connectBroker(url: string, options: Partial<ConnectOptions> = {}): Promise<MqttClient> {
  const opts = { ...connectDefaults, ...options } satisfies Partial<ConnectOptions>;
  const mqttOptions: IClientOptions = {
    clientId: opts.clientId,
    username: opts.username,
    password: opts.password,
    protocolVersion: opts.protocolVersion,
    clean: opts.clean,
    keepalive: opts.keepaliveSec,
    // mqtt.js' own CONNACK timer (also used on reconnects) gets a margin so that the
    // first attempt ends through ours, with the clearer message.
    connectTimeout: opts.connectTimeoutMs + 1_000,
    reconnectPeriod: 0, // set once connected: a first attempt that fails should fail, not loop
    // mqtt-packet would otherwise pre-build a 2-byte Buffer for every one of the 65536
    // packet ids at the first packet sent: 65536 Buffer objects, about 7 MB of V8 heap
    // that a device process keeps for its lifetime (a worker's whole idle heap is ~13 MB
    // without them). Writing each id as it is sent costs nothing measurable.
    writeCache: false,
    // The certificate is always checked (mqtt.js' default too): a given CA replaces the system's, not the check.
    ...(opts.tls && { ...opts.tls, rejectUnauthorized: true }),
    ...(opts.will && {
      will: {
        topic: opts.will.topic,
        payload: Buffer.from(opts.will.payload),
        retain: opts.will.retain ?? false,
        qos: opts.will.qos ?? 1,
      },
    }),
  };
  const client = mqtt.connect(url, mqttOptions);
  // No Nagle delay on our side either (see server.ts), on every (re)connection.
  client.on("connect", () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
  return new Promise<MqttClient>((resolve, reject) => {
    const fail = (problem: string) => {
      cleanup();
      client.end(true);
      reject(new BrokerError(url, problem));
    };
    const onConnect = (connack: { properties?: { maximumPacketSize?: number } }) => {
      cleanup();
      const limit = connack.properties?.maximumPacketSize;
      if (limit) advertisedMaxPacketBytes.set(client, limit);
      client.options.reconnectPeriod = opts.reconnectPeriodMs;
      resolve(client);
    };
    const onError = (err: Error) => fail(`cannot connect: ${errorMessage(err)}`);
    const onClose = () => fail("connection closed before the broker accepted it");
    const timer = setTimeout(() => fail(`no answer within ${opts.connectTimeoutMs} ms`), opts.connectTimeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      client.off("connect", onConnect);
      client.off("error", onError);
      client.off("close", onClose);
    };
    client.on("connect", onConnect);
    client.on("error", onError);
    client.on("close", onClose);
  });
}

// ---------------------------------------------------------------------------
// publishing

export interface PublishChunkedOptions {
  /** The broker's packet limit (Mosquitto `max_packet_size`, EMQX 1 MB by default, …). */
  maxPacketBytes: number;
  qos: QoS;
  retain: boolean;
}

/**
 * The packet size edgefuse chunks to unless told (`--max-packet`): below the limits of
 * common brokers (AWS IoT 128 KB aside) and large enough that the 40-byte chunk header
 * and per-packet acks cost well under 1 %.
 */
export const DEFAULT_MAX_PACKET_BYTES = 256 * 1024;

export const publishChunkedDefaults = {
  maxPacketBytes: DEFAULT_MAX_PACKET_BYTES,
  qos: 1,
  retain: false,
} satisfies PublishChunkedOptions;

export interface PublishReport {
  /** 0 when the payload went whole on `topic`; else the chunks on `topic/c/<i>`. */
  chunkCount: number;
  payloadBytes: number;
}

/**
 * Publishes `payload` on `topic`: whole when it fits one packet of maxPacketBytes
 * (or the smaller limit the broker advertised), else as chunks on `<topic>/c/<i>`.
 * Resolves when every packet has been handed over (QoS 0) or acknowledged (QoS 1, 2).
 *
 * Retained chunked messages are meant for content-addressed topics (shards), where
 * a republish writes identical chunks. Before replacing a retained chunked message
 * with a different one on the same topic, remove it with clearRetainedChunks.
 */
export async function publishChunked(
  client: MqttClient,
  topic: string,
  payload: Payload,
  options: Partial<PublishChunkedOptions> = {},
): Promise<PublishReport> {
  const { qos, retain, ...rest } = { ...publishChunkedDefaults, ...options };
  const maxPacketBytes = Math.min(rest.maxPacketBytes, advertisedMaxPacketBytes.get(client) ?? Infinity);
  const bytes = payloadBytes(payload);
  if (fitsOnePacket(topic, bytes, maxPacketBytes)) {
    const whole = payload instanceof Uint8Array ? payload : Buffer.concat(payload);
    await client.publishAsync(topic, Buffer.from(whole.buffer, whole.byteOffset, whole.byteLength), { qos, retain });
    return { chunkCount: 0, payloadBytes: bytes };
  }
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  const chunks = splitIntoChunks(parts, {
    chunkBytes: chunkDataBytes(topic, maxPacketBytes),
    // Content-derived id for retained messages: see chunking.ts.
    ...(retain && { messageId: "crc32" as const }),
  });
  await Promise.all(chunks.map((chunk, i) => client.publishAsync(chunkTopic(topic, i), chunk, { qos, retain })));
  return { chunkCount: chunks.length, payloadBytes: bytes };
}

/** Removes a retained message and its first `chunkCount` retained chunks. */
export async function clearRetainedChunks(client: MqttClient, topic: string, chunkCount: number): Promise<void> {
  const empty = Buffer.alloc(0);
  await Promise.all([
    client.publishAsync(topic, empty, { qos: 1, retain: true }),
    ...Array.from({ length: chunkCount }, (_, i) =>
      client.publishAsync(chunkTopic(topic, i), empty, { qos: 1, retain: true }),
    ),
  ]);
}

// ---------------------------------------------------------------------------
// subscribing

export interface ChunkedMessageInfo {
  /** True when the message (or its last chunk) came from the broker's retained store. */
  retain: boolean;
  /** The pieces the message was reassembled into, when `place` gave them (the payload is then the first piece). */
  placement?: Placement;
}

/**
 * The reassembler's limits ride along: a device passes `maxMessageBytes: <its memory
 * budget>`, which also bounds everything the subscription reassembles at once
 * (maxPendingBytes defaults to it), so forged chunk headers cannot claim more.
 */
export interface SubscribeChunkedOptions extends Partial<ReassemblerOptions> {
  /** Gets every whole message: ones sent whole and ones rebuilt from chunks. */
  onMessage: (topic: string, payload: Buffer, info: ChunkedMessageInfo) => void | Promise<void>;
  /**
   * Gets every failure: bad or stalled chunks (WireError) and anything onMessage
   * throws or rejects with. The subscription carries on.
   */
  onError: (error: Error, topic: string) => void;
  qos?: QoS;
}

export interface ChunkedSubscription {
  readonly filters: readonly string[];
  /** Bytes held by incomplete messages right now. */
  readonly pendingBytes: number;
  unsubscribe(): Promise<void>;
}

/** How many subscriptions of this process use each filter, per client (unsubscribe at zero). */
const filterUsers = new WeakMap<MqttClient, Map<string, number>>();

/**
 * Subscribes to `filter` and to its chunk topics, and calls onMessage with whole
 * payloads. A retained chunked message reaches a late subscriber too: each chunk
 * is retained on its own topic.
 */
export async function subscribeChunked(
  client: MqttClient,
  filterOrFilters: string | readonly string[],
  options: SubscribeChunkedOptions,
): Promise<ChunkedSubscription> {
  const { onMessage, onError, qos = 1, ...reassemblerOptions } = options;
  // Several filters share one listener and one reassembler (a worker's task topics).
  const wholeFilters = typeof filterOrFilters === "string" ? [filterOrFilters] : [...filterOrFilters];
  // A filter ending in `#` has no chunk filter of its own: it already matches `<topic>/c/<i>`.
  const chunkFilters = wholeFilters.map((f) => chunkFilter(f) ?? f);
  const filters = [...new Set([...wholeFilters, ...chunkFilters])];
  const filter = wholeFilters.join(", ");
  const reassembler = new Reassembler((err) => onError(err, err.topic), reassemblerOptions);

  const deliver = (topic: string, payload: Buffer, info: ChunkedMessageInfo) => {
    try {
      Promise.resolve(onMessage(topic, payload, info)).catch((err: unknown) => onError(asError(err), topic));
    } catch (err) {
      onError(asError(err), topic);
    }
  };
  const listener = (topic: string, payload: Buffer, packet: { retain?: boolean }) => {
    const isChunk = splitChunkTopic(topic) !== null;
    if (!(isChunk ? chunkFilters : wholeFilters).some((f) => topicMatches(f, topic))) return;
    if (!isChunk) return deliver(topic, payload, { retain: packet.retain ?? false });
    const whole = reassembler.push(topic, payload);
    if (whole)
      deliver(whole.topic, whole.payload, {
        retain: packet.retain ?? false,
        ...(whole.placement && { placement: whole.placement }),
      });
  };
  client.on("message", listener);

  const users = filterUsers.get(client) ?? new Map<string, number>();
  filterUsers.set(client, users);
  try {
    const grants = await client.subscribeAsync(filters, { qos });
    const refused = grants.filter((g) => g.qos === 128).map((g) => g.topic);
    if (refused.length) throw new Error(`the broker refused ${refused.join(", ")}`);
  } catch (err) {
    client.off("message", listener);
    reassembler.close();
    throw new BrokerError(urlOf(client), `subscribe to ${filter} failed: ${errorMessage(err)}`);
  }
  for (const f of filters) users.set(f, (users.get(f) ?? 0) + 1);

  let active = true;
  return {
    filters,
    get pendingBytes() {
      return reassembler.pendingBytes;
    },
    async unsubscribe() {
      if (!active) return;
      active = false;
      client.off("message", listener);
      reassembler.close();
      const last = filters.filter((f) => {
        const n = (users.get(f) ?? 1) - 1;
        if (n === 0) users.delete(f);
        else users.set(f, n);
        return n === 0;
      });
      if (last.length && client.connected) await client.unsubscribeAsync(last);
    },
  };
}

const urlOf = (client: MqttClient) => `${client.options.protocol}://${client.options.hostname}:${client.options.port}`;
const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/**
 * The Bus: what every actor needs of MQTT, and nothing else — publish a payload of
 * any size (chunked to the packet limit), subscribe to whole payloads, retained
 * messages, and the connection's life. One implementation over mqtt.js (client.ts);
 * a contract suite (broker.contract.ts) runs it on aedes and on a real Mosquitto.
 *
 * ```ts
 * const bus = await connectBus(url, { clientId: workerClientId("w1"), maxPacketBytes: DEFAULT_MAX_PACKET_BYTES });
 * await bus.publish(topics.partOut(jobId, 12, 3), frameParts(meta, data), { qos: JOB_TENSOR_QOS });
 * const sub = await bus.subscribe(topics.filters.partIn({ jobId }), { onMessage, onError });
 * ```
 */
import type { Payload } from "./chunking.js";
import { BrokerError } from "./errors.js";
import {
  type ChunkedSubscription,
  type ConnectOptions,
  clearRetainedChunks,
  connectBroker,
  type MqttClient,
  type PublishReport,
  publishChunked,
  publishChunkedDefaults,
  type QoS,
  type SubscribeChunkedOptions,
  subscribeChunked,
} from "./client.js";

export interface BusPublishOptions {
  /** 1 unless said (job tensors go at JOB_TENSOR_QOS, topics.ts). */
  readonly qos?: QoS;
  readonly retain?: boolean;
}

export interface Bus {
  /** The MQTT client id: the broker counts bytes per client id (traffic.ts). */
  readonly clientId: string;
  /** The largest packet this bus sends; larger payloads go as chunks. */
  readonly maxPacketBytes: number;
  readonly connected: boolean;
  /** Resolves when every packet is handed over (QoS 0) or acknowledged (QoS 1). */
  publish(topic: string, payload: Payload | string, options?: BusPublishOptions): Promise<PublishReport>;
  /** Whole payloads on `filters`, rebuilt from chunks where they were chunked. */
  subscribe(filters: string | readonly string[], options: SubscribeChunkedOptions): Promise<ChunkedSubscription>;
  /** Removes the retained message on `topic`, and its first `chunkCount` retained chunks. */
  clearRetained(topic: string, chunkCount?: number): Promise<void>;
  /** Called on every reconnection after the first; returns a function that stops it. */
  onReconnect(listener: () => void): () => void;
  /**
   * Resolves once the bus has been connected again for `ms` after its last reconnection
   * (at once when it has been up that long, or has not lost its first connection); rejects
   * with a BrokerError when the bus is closed first. For answers that others must hear:
   * while the broker is away nobody is subscribed, and after it comes back a client that
   * kept no session hears nothing until it has reconnected and subscribed again.
   */
  whenSteady(ms: number): Promise<void>;
  /** Raw MQTT messages, for the few listeners that need every packet (a worker's receive accounting). */
  onPacket(listener: (topic: string, payload: Buffer) => void): () => void;
  /** Disconnects; `force` skips waiting for in-flight packets (and sends the last will). */
  close(options?: { force?: boolean }): Promise<void>;
  /** The mqtt.js client underneath, for tests and tools that need the protocol itself. */
  readonly client: MqttClient;
}

export interface BusOptions {
  readonly maxPacketBytes: number;
}

/** A Bus over an mqtt.js client that is already connected. */
export function busOver(client: MqttClient, options: Partial<BusOptions> = {}): Bus {
  const maxPacketBytes = options.maxPacketBytes ?? publishChunkedDefaults.maxPacketBytes;
  const steadiness = trackSteadiness(client);
  return {
    client,
    maxPacketBytes,
    get clientId() {
      return client.options.clientId ?? "";
    },
    get connected() {
      return client.connected;
    },
    publish: (topic, payload, { qos = 1, retain = false } = {}) =>
      publishChunked(client, topic, typeof payload === "string" ? Buffer.from(payload) : payload, {
        maxPacketBytes,
        qos,
        retain,
      }),
    subscribe: (filters, subscribeOptions) => subscribeChunked(client, filters, subscribeOptions),
    clearRetained: (topic, chunkCount = 0) => clearRetainedChunks(client, topic, chunkCount),
    onReconnect(listener) {
      // "connect" fires for the first connection too, but connectBus hands the bus
      // over only after it: every later one is a reconnection.
      client.on("connect", listener);
      return () => void client.off("connect", listener);
    },
    whenSteady: (ms) => steadiness.whenSteady(ms),
    onPacket(listener) {
      client.on("message", listener);
      return () => void client.off("message", listener);
    },
    close: async ({ force = false } = {}) => {
      await client.endAsync(force);
    },
  };
}

/** Since when `client` has been connected without a break (Bus.whenSteady). */
function trackSteadiness(client: MqttClient) {
  // The connection the bus is made on counts as steady: nobody lost anything yet.
  let upSince: number | null = client.connected ? Number.NEGATIVE_INFINITY : null;
  /** Waits woken by any change of the connection (one listener per event, however many wait). */
  const waiting = new Set<() => void>();
  const changed = () => {
    for (const wake of [...waiting]) wake();
  };
  client.on("connect", () => {
    upSince = performance.now();
    changed();
  });
  client.on("close", () => {
    upSince = null;
    changed();
  });
  client.on("end", changed);
  const closed = () => client.disconnecting || client.disconnected;
  return {
    async whenSteady(ms: number): Promise<void> {
      for (;;) {
        if (closed()) throw new BrokerError(brokerUrlOf(client), "the connection was closed");
        const up = upSince;
        if (up !== null && performance.now() - up >= ms) return;
        // Connected: wait out the rest (a break wakes it early); down: wait for the reconnection.
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            waiting.delete(wake);
            resolve();
          };
          const timer = up === null ? undefined : setTimeout(wake, ms - (performance.now() - up));
          waiting.add(wake);
        });
      }
    },
  };
}

const brokerUrlOf = (client: MqttClient) =>
  `${client.options.protocol ?? "mqtt"}://${client.options.host ?? "?"}:${client.options.port ?? "?"}`;

/** Connects (connectBroker's clear errors) and wraps the client in a Bus. */
export async function connectBus(url: string, options: Partial<ConnectOptions & BusOptions> = {}): Promise<Bus> {
  const { maxPacketBytes, ...connect } = options;
  return busOver(await connectBroker(url, connect), maxPacketBytes === undefined ? {} : { maxPacketBytes });
}

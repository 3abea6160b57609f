/**
 * The embedded broker's counters on the wire: about once a second it publishes every
 * client's bytes and messages so far (traffic.ts) on `stats`, which only a viewer reads
 * (auth.ts VIEWER_READS). A dashboard turns two in a row into bytes per second per link:
 * in the embedded default each device's link is its connection to the broker.
 */
import type { Aedes } from "aedes";
import { z } from "zod";
import { encodeJson } from "./messages.js";
import { TOPIC_TABLE, topicsFor } from "./topics.js";
import type { ClientTraffic } from "./traffic.js";

const counter = z.number().int().nonnegative();
/** One client's totals since it first connected (traffic.ts ClientTraffic without the per-kind tables). */
const clientCountersSchema = z.object({
  bytesIn: counter,
  bytesOut: counter,
  messagesIn: counter,
  messagesOut: counter,
});

export const statsSchema = z.object({
  timestamp: z.iso.datetime(),
  /** How often the broker publishes them. */
  everyMs: z.number().int().positive(),
  /** By client id: devices are `worker-<id>` and `source-<deployment>` (traffic.ts workerClientId). */
  clients: z.record(z.string().min(1), clientCountersSchema),
});
export type Stats = z.infer<typeof statsSchema>;

export const statsDefaults = { everyMs: 1000 };

export interface StatsOptions {
  /** The deployment whose `stats` topic carries them. */
  readonly deployment: string;
  readonly everyMs?: number;
}

/** What stats carry of a meter's snapshot. */
export function statsOf(snapshot: Record<string, ClientTraffic>, everyMs: number, now = new Date()): Stats {
  const clients: Stats["clients"] = {};
  for (const [id, t] of Object.entries(snapshot))
    clients[id] = { bytesIn: t.bytesIn, bytesOut: t.bytesOut, messagesIn: t.messagesIn, messagesOut: t.messagesOut };
  return { timestamp: now.toISOString(), everyMs, clients };
}

/** Publishes `snapshot()` on the deployment's stats topic every `everyMs` until the returned stop is called. */
export function publishStats(
  aedes: Aedes,
  options: StatsOptions,
  snapshot: () => Record<string, ClientTraffic>,
  log: (line: string) => void,
): () => void {
  const everyMs = options.everyMs ?? statsDefaults.everyMs;
  const topic = topicsFor(options.deployment).stats();
  const timer = setInterval(() => {
    const payload = encodeJson(statsSchema, statsOf(snapshot(), everyMs));
    aedes.publish(
      { cmd: "publish", topic, payload, qos: TOPIC_TABLE.stats.qos, retain: false, dup: false },
      (err) => err && log(`stats not published: ${err.message}`),
    );
  }, everyMs);
  // A broker with nothing else to do should not be kept alive by its own counters.
  timer.unref();
  return () => clearInterval(timer);
}

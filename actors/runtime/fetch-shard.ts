/**
 * Weight shards on demand, from the planner: a device subscribes to its own
 * `devices/<deviceId>/shards/<sha256>`, asks on `shard-requests/<deviceId>`, and the
 * planner sends the shard there (chunked, QoS 1, not retained: nothing stays on the
 * broker). The bytes are checked against their sha256 before use. Concurrent requests
 * for one shard share one fetch.
 *
 * A request can be lost (the planner restarting, a broker dropping a queued message),
 * so a device that hears nothing of its shards for retryMs asks again; the planner sends
 * a shard once however often it is asked while it is still queued. The fetch fails when
 * nothing of this device's shards has arrived for timeoutMs: a slow link that is still
 * delivering never times out, a missing planner does, with a message saying so.
 */
import { WireError } from "../../core/errors.js";
import { decodeShard, type ShardEntry, shardId } from "../../dnn/shard.js";
import type { Bus } from "../../broker/bus.js";
import { encodeJson, shardRequestSchema } from "../../broker/messages.js";
import type { Topics } from "../../broker/topics.js";
import type { ShardFetcher } from "./executor.js";

export interface FetchShardOptions {
  /** The device asking: its shards come on its own topics. */
  readonly deviceId: string;
  /** Give up when nothing of this device's shards has arrived for this long. */
  readonly timeoutMs: number;
  /** Ask again when nothing of this device's shards has arrived this long after asking. */
  readonly retryMs: number;
  /** The largest shard this device takes: its memory budget (a shard above it could never be held). */
  readonly maxMessageBytes?: number;
}
export const fetchShardDefaults = {
  // A request is a 90-byte message the planner answers within milliseconds unless it is
  // cutting other devices' shards; asking again costs nothing while the first is queued.
  retryMs: 2_000,
} satisfies Partial<FetchShardOptions>;

export function brokerShardFetcher(
  bus: Bus,
  topics: Topics,
  options: Pick<FetchShardOptions, "deviceId" | "timeoutMs"> & Partial<FetchShardOptions>,
): ShardFetcher {
  const o = { ...fetchShardDefaults, ...options } satisfies FetchShardOptions;
  // Any bytes of any shard for this device show the planner is serving it (and the link busy).
  const mine = topics.filters.deviceShard({ deviceId: o.deviceId }).slice(0, -1);
  let lastHeard = 0;
  const checkEveryMs = Math.min(o.retryMs, o.timeoutMs) / 4;
  // Raw packets, not whole messages: every chunk of a shard still on its way counts.
  bus.onPacket((topic) => {
    if (topic.startsWith(mine)) lastHeard = performance.now();
  });
  const ask = (sha: string) =>
    bus.publish(topics.shardRequest(o.deviceId), encodeJson(shardRequestSchema, { sha256: sha }), { qos: 1 });

  const fetchOnce = (sha: string) =>
    new Promise<readonly ShardEntry[]>((resolve, reject) => {
      const topic = topics.deviceShard(o.deviceId, sha);
      let settled = false;
      let unsubscribe = async () => {};
      let timer: NodeJS.Timeout | undefined;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void unsubscribe().catch(() => undefined);
        fn();
      };
      const fail = (err: unknown) => finish(() => reject(err));
      const startedAt = performance.now();
      let askedAt = 0;
      const askNow = () => {
        askedAt = performance.now();
        ask(sha).catch(fail);
      };
      const check = () => {
        const now = performance.now();
        if (now - Math.max(lastHeard, startedAt) >= o.timeoutMs) {
          return fail(
            new WireError(
              topic,
              `weight shard did not arrive: nothing from the planner for ${o.timeoutMs} ms (is the planner up?)`,
            ),
          );
        }
        if (now - Math.max(lastHeard, askedAt) >= o.retryMs) askNow();
        timer = setTimeout(check, checkEveryMs);
      };
      bus
        .subscribe(topic, {
          ...(o.maxMessageBytes === undefined ? {} : { maxMessageBytes: o.maxMessageBytes }),
          onMessage: (_t, payload) => {
            if (payload.byteLength === 0)
              return fail(new WireError(topic, "the planner has no such shard (its plan has changed since)"));
            const actual = shardId(payload);
            if (actual !== sha)
              return fail(new WireError(topic, `content hash is ${actual.slice(0, 12)}…, not the topic's`));
            finish(() => {
              try {
                resolve(decodeShard(payload, topic));
              } catch (err) {
                reject(err);
              }
            });
          },
          onError: fail,
        })
        .then((sub) => {
          unsubscribe = () => sub.unsubscribe();
          if (settled) return void sub.unsubscribe().catch(() => undefined);
          // Subscribed first, so the answer cannot pass before the device listens.
          askNow();
          timer = setTimeout(check, checkEveryMs);
        }, fail);
    });
  const inflight = new Map<string, Promise<readonly ShardEntry[]>>();
  return (sha) => {
    let pending = inflight.get(sha);
    if (!pending) {
      pending = fetchOnce(sha).finally(() => inflight.delete(sha));
      inflight.set(sha, pending);
    }
    return pending;
  };
}

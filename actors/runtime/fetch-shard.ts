/**
 * Weight shards on demand: a shard is a retained message on `shards/<sha256>`, so a
 * device subscribes, takes the retained copy, checks its hash and unsubscribes.
 * Concurrent requests for one shard share one fetch.
 */
import { WireError } from "../../core/errors.js";
import { decodeShard, type ShardEntry, shardId } from "../../dnn/shard.js";
import { type MqttClient, subscribeChunked } from "../../broker/client.js";
import type { Topics } from "../../broker/topics.js";
import type { ShardFetcher } from "./executor.js";

export interface FetchShardOptions {
  readonly timeoutMs: number;
}

export function brokerShardFetcher(client: MqttClient, topics: Topics, options: FetchShardOptions): ShardFetcher {
  const inflight = new Map<string, Promise<readonly ShardEntry[]>>();
  const fetchOnce = (sha: string) =>
    new Promise<readonly ShardEntry[]>((resolve, reject) => {
      const topic = topics.shard(sha);
      let settled = false;
      let unsubscribe = async () => {};
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void unsubscribe().catch(() => undefined);
        fn();
      };
      const timer = setTimeout(() => finish(() => reject(new WireError(topic, `weight shard did not arrive within ${options.timeoutMs} ms (is the planner up?)`))), options.timeoutMs);
      subscribeChunked(client, topic, {
        onMessage: (_t, payload) => {
          if (payload.byteLength === 0) return; // a cleared retained shard: wait for the next one
          const actual = shardId(payload);
          if (actual !== sha) return finish(() => reject(new WireError(topic, `content hash is ${actual.slice(0, 12)}…, not the topic's`)));
          finish(() => {
            try {
              resolve(decodeShard(payload, topic));
            } catch (err) {
              reject(err);
            }
          });
        },
        onError: (err) => finish(() => reject(err)),
      }).then(
        (sub) => {
          unsubscribe = () => sub.unsubscribe();
          if (settled) void sub.unsubscribe().catch(() => undefined);
        },
        (err: unknown) => finish(() => reject(err)),
      );
    });
  return (sha) => {
    let pending = inflight.get(sha);
    if (!pending) {
      pending = fetchOnce(sha).finally(() => inflight.delete(sha));
      inflight.set(sha, pending);
    }
    return pending;
  };
}

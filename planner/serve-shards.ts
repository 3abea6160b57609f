/**
 * The planner's side of the weight shards: a device asks on `shard-requests/<deviceId>`
 * and gets the shard on its own `devices/<deviceId>/shards/<sha256>`, chunked, at QoS 1,
 * not retained, so nothing of it stays on a shared broker after the deployment (and a
 * subscriber to `edgefuse/#` is not handed hundreds of megabytes of weights).
 *
 * The planner keeps each shard's recipe, not its bytes, and cuts it again from the
 * weights file when asked: one shard in memory at a time however many devices ask, and
 * one cut for every device waiting for the same shard (the FTP stack every tile needs).
 * A shard no plan in force names is answered with an empty payload, so the device fails
 * at once with a clear message instead of at its timeout.
 */
import { errorMessage, WireError } from "../core/errors.js";
import type { Network } from "../dnn/network.js";
import { shardId } from "../dnn/shard.js";
import type { WeightsSource } from "../dnn/weights.js";
import type { Bus } from "../broker/bus.js";
import { decodeJson, shardRequestSchema } from "../broker/messages.js";
import type { Topics } from "../broker/topics.js";
import { cutShard, type ShardRecipe } from "./shards.js";

export interface ShardServerOptions {
  /** Shards go chunked to its packet limit. */
  readonly bus: Bus;
  readonly topics: Topics;
  readonly network: Network;
  readonly weights: WeightsSource;
  readonly log: (line: string) => void;
  /** A device asked for a shard, or was sent one: it is working on the plan (planner/readiness.ts). */
  readonly onActivity?: (deviceId: string) => void;
}

export interface ShardServer {
  /** Serve these shards from now on (the plan in force), instead of the ones before. Requests wait for the first offer. */
  offer(recipes: ReadonlyMap<string, ShardRecipe>): void;
  /** Shards sent since the start (one per device and shard), for logs and tests. */
  readonly sent: number;
  /** Whether this device has asked for a shard that it has not been sent yet (queued, being cut or on its way). */
  owes(deviceId: string): boolean;
  stop(): Promise<void>;
}

const short = (sha: string) => `${sha.slice(0, 12)}…`;

export async function startShardServer(o: ShardServerOptions): Promise<ShardServer> {
  const { bus, topics, log } = o;
  let recipes: ReadonlyMap<string, ShardRecipe> | undefined;
  /** Devices waiting for each shard, shards in the order first asked for. A repeated ask while queued adds nothing. */
  const waiting = new Map<string, Set<string>>();
  let serving: Promise<void> | undefined;
  /** The devices the shard being served goes to and has not reached yet. */
  const sending = new Set<string>();
  let stopped = false;
  let sent = 0;

  /** The shard's bytes, or an empty payload when it cannot be served (said in the log). */
  const bytesOf = (sha: string, devices: readonly string[]): Buffer => {
    const recipe = recipes!.get(sha);
    if (!recipe) {
      log(`${devices.join(", ")} asked for shard ${short(sha)}, which the plan in force does not name: answered empty`);
      return Buffer.alloc(0);
    }
    const bytes = cutShard(recipe, o.network, o.weights);
    if (shardId(bytes) === sha) return bytes;
    log(
      `shard ${short(sha)} cut again has the hash ${short(shardId(bytes))} (has the weights file changed?): answered empty`,
    );
    return Buffer.alloc(0);
  };

  const serve = async (sha: string, devices: readonly string[]) => {
    let bytes: Buffer;
    try {
      bytes = bytesOf(sha, devices);
    } catch (err) {
      log(`cannot cut shard ${short(sha)} for ${devices.join(", ")}: ${errorMessage(err)}: answered empty`);
      bytes = Buffer.alloc(0);
    }
    for (const device of devices) sending.add(device);
    for (const device of devices) {
      if (stopped) return;
      try {
        await bus.publish(topics.deviceShard(device, sha), bytes, { qos: 1, retain: false });
        if (bytes.byteLength > 0) sent++;
      } catch (err) {
        log(`sending shard ${short(sha)} to ${device} failed: ${errorMessage(err)}`);
      }
      sending.delete(device);
      o.onActivity?.(device);
    }
  };

  const pump = () => {
    if (serving || stopped || !recipes || waiting.size === 0) return;
    serving = (async () => {
      for (const [sha, devices] of waiting) {
        if (stopped) return;
        waiting.delete(sha);
        await serve(sha, [...devices]);
      }
    })().finally(() => {
      serving = undefined;
      pump(); // asked for meanwhile, after the loop had passed them
    });
  };

  const onRequest = (topic: string, payload: Buffer) => {
    const parsed = topics.parse(topic);
    if (parsed?.kind !== "shardRequest")
      throw new WireError(
        topic,
        "not a shard request topic: expected shard-requests/<deviceId>, the id 1-64 of [A-Za-z0-9._:-]",
      );
    const { sha256 } = decodeJson(topic, payload, shardRequestSchema);
    const devices = waiting.get(sha256) ?? new Set<string>();
    waiting.set(sha256, devices.add(parsed.deviceId));
    o.onActivity?.(parsed.deviceId);
    pump();
  };

  const subscription = await bus.subscribe(topics.filters.shardRequest(), {
    onMessage: onRequest,
    onError: (err, topic) =>
      log(`ignored a shard request: ${err.message.startsWith(topic) ? "" : `${topic}: `}${err.message}`),
  });

  return {
    offer(next) {
      recipes = next;
      pump();
    },
    get sent() {
      return sent;
    },
    owes: (deviceId) => sending.has(deviceId) || [...waiting.values()].some((devices) => devices.has(deviceId)),
    async stop() {
      stopped = true;
      waiting.clear();
      sending.clear();
      await subscription.unsubscribe();
      await serving;
    },
  };
}

/**
 * The planner actor: watches worker presence, plans for the workers present,
 * publishes the weight shards the plan needs (retained, content-addressed) and then
 * the plan (retained), and plans again when the roster changes.
 *
 * One re-plan runs at a time; presence that arrives meanwhile is folded into the
 * next one. A re-plan is a short list of steps: roster → draft plan → shards → plan
 * → forget stale shards. Anything bad from the network is logged and dropped.
 */
import { PlanError, errorMessage } from "../core/errors.js";
import type { Network } from "../dnn/network.js";
import type { WeightsSource } from "../dnn/weights.js";
import { clearRetainedChunks, publishChunked, subscribeChunked, type ChunkedSubscription, type MqttClient } from "../broker/client.js";
import { decodePresence, type Presence } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { makePlan, type PlanOptions } from "./build.js";
import type { Plan } from "./schema.js";
import { buildShards, shardsOf } from "./shards.js";

export interface PlannerOptions {
  /** A connected client (broker/client.ts connectBroker). */
  readonly client: MqttClient;
  readonly deployment: string;
  readonly network: Network;
  /** Where shard weights come from, read one layer at a time. */
  readonly weights: WeightsSource;
  /** How to plan; the devices come from presence. */
  readonly planning: Partial<Omit<PlanOptions, "devices">>;
  /** Quiet time after the last roster change before planning: workers tend to arrive together. */
  readonly settleMs: number;
  /** Workers to wait for before the first plan; afterwards every roster change re-plans. */
  readonly minDevices: number;
  readonly maxPacketBytes: number;
  readonly log: (line: string) => void;
}
export const plannerDefaults = {
  planning: {},
  settleMs: 250,
  minDevices: 1,
  maxPacketBytes: 256 * 1024,
  log: (line: string) => console.error(`planner: ${line}`),
} satisfies Partial<PlannerOptions>;

export interface PlannerActor {
  /** Workers present now, by id. */
  readonly roster: ReadonlyMap<string, Presence>;
  /** The plan last published; undefined when none is (no workers, or they cannot hold the model). */
  current(): Plan | undefined;
  /** Resolves with the outcome of the next re-plan: the plan published, or null when cleared. */
  nextPlan(): Promise<Plan | null>;
  stop(): Promise<void>;
}

type Required = Pick<PlannerOptions, "client" | "deployment" | "network" | "weights">;

export async function startPlanner(options: Required & Partial<PlannerOptions>): Promise<PlannerActor> {
  const opts = { ...plannerDefaults, ...options } satisfies PlannerOptions;
  const { client, log } = opts;
  const topics = topicsFor(opts.deployment);
  const publishOptions = { retain: true, qos: 1 as const, maxPacketBytes: opts.maxPacketBytes };

  const roster = new Map<string, Presence>();
  /** Shards on the broker now, with their chunk counts (to clear them when no plan needs them). */
  const published = new Map<string, number>();
  let current: Plan | undefined;
  let planChunks = 0;
  let draftId: string | undefined;
  let waiters: ((p: Plan | null) => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  /** A plan has been published once (so minDevices no longer holds planning back). */
  let planned = false;
  /** The retained plan topic is empty: nothing to clear while waiting. */
  let cleared = false;

  const settle = (outcome: Plan | null) => {
    const done = waiters;
    waiters = [];
    done.forEach((w) => w(outcome));
  };

  // ---- the steps of one re-plan ----

  const draft = (): Plan | null => {
    const devices = [...roster.values()].sort((a, b) => (a.workerId < b.workerId ? -1 : 1)).map((p) => ({ workerId: p.workerId, memoryBudgetBytes: p.memoryBudgetBytes, gmacPerSec: p.gmacPerSec, ...(p.role === "source" ? { role: "source" as const } : {}) }));
    if (devices.length === 0) return null;
    if (!planned && devices.length < opts.minDevices) {
      log(`waiting for ${opts.minDevices} workers before the first plan (${devices.length} present)`);
      return null;
    }
    try {
      return makePlan(opts.network, { ...opts.planning, devices });
    } catch (err) {
      if (!(err instanceof PlanError)) throw err;
      log(`cannot plan for ${devices.map((d) => d.workerId).join(", ")}: ${err.message}`);
      return null;
    }
  };

  const publishShards = async (plan: Plan): Promise<Plan> => {
    const built = await buildShards(plan, opts.network, opts.weights, async (sha, bytes) => {
      if (published.has(sha)) return;
      const report = await publishChunked(client, topics.shard(sha), bytes, publishOptions);
      published.set(sha, report.chunkCount);
    });
    return built.plan;
  };

  const publishPlan = async (plan: Plan | null) => {
    // A retained chunked plan must be cleared before a different one takes its topic.
    if (planChunks > 0) await clearRetainedChunks(client, topics.plan(), planChunks);
    if (plan) planChunks = (await publishChunked(client, topics.plan(), Buffer.from(JSON.stringify(plan)), publishOptions)).chunkCount;
    else if (planChunks === 0) await client.publishAsync(topics.plan(), Buffer.alloc(0), { qos: 1, retain: true });
    else planChunks = 0;
  };

  const forgetStaleShards = async (plan: Plan | null) => {
    const needed = plan ? shardsOf(plan) : new Map();
    for (const [sha, chunks] of published) {
      if (needed.has(sha)) continue;
      await clearRetainedChunks(client, topics.shard(sha), chunks);
      published.delete(sha);
    }
  };

  const replan = async (): Promise<void> => {
    const next = draft();
    if (next !== null && next.id === draftId) return settle(current ?? null); // the same roster in effect: nothing to do
    if (next === null && current === undefined && cleared) return settle(null); // still nothing to publish
    const plan = next && (await publishShards(next));
    await publishPlan(plan);
    await forgetStaleShards(plan);
    draftId = next?.id; // only once published, so a failed attempt is retried in full
    current = plan ?? undefined;
    planned ||= plan !== null;
    cleared = plan === null;
    log(plan ? `published plan ${plan.id} for ${plan.devices.map((d) => d.workerId).join(", ")} (${published.size} shards)` : "cleared the plan");
    settle(plan);
  };

  // ---- scheduling: one re-plan at a time, after the roster settles ----

  const run = () => {
    timer = undefined;
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = replan()
      .catch((err: unknown) => log(`re-plan failed: ${errorMessage(err)}`))
      .finally(() => {
        running = undefined;
        if (again && !stopped) {
          again = false;
          schedule();
        }
      });
  };
  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, opts.settleMs);
  };

  const onPresence = (topic: string, payload: Buffer) => {
    const parsed = topics.parse(topic);
    if (parsed?.kind !== "worker") return;
    const presence = decodePresence(topic, payload);
    if (presence && presence.workerId !== parsed.workerId) throw new PlanError(`${topic}: presence names worker '${presence.workerId}'`);
    const before = roster.get(parsed.workerId);
    if (presence) roster.set(parsed.workerId, presence);
    else roster.delete(parsed.workerId);
    if (before !== undefined || presence !== null) schedule();
  };

  const subscription: ChunkedSubscription = await subscribeChunked(client, topics.filters.workers, {
    onMessage: onPresence,
    onError: (err, topic) => log(`ignored a message: ${err.message.startsWith(topic) ? "" : `${topic}: `}${err.message}`),
  });
  // With no worker retained on the broker, say so once: a stale retained plan must not outlive its workers.
  schedule();

  return {
    roster,
    current: () => current,
    nextPlan: () => new Promise((resolve) => waiters.push(resolve)),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await subscription.unsubscribe();
      await running;
      settle(current ?? null);
    },
  };
}

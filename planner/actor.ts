/**
 * The planner actor: watches worker presence, plans for the workers present, cuts the
 * weight shards the plan needs (content-addressed; sent to a device when it asks, see
 * serve-shards.ts), publishes the plan (retained, for devices that join late), and
 * plans again when the roster changes. Stopped, it clears the plan: nothing of the
 * deployment stays on the broker.
 *
 * It keeps the deployment recoverable: it watches its own plan topic and publishes the
 * plan again when something else is retained there or the broker may have forgotten it
 * (plan-topic.ts), and it leaves out of the next plan a device that does not become ready
 * within a bound (readiness.ts), so a presence no live device stands behind cannot hold
 * planning up for ever. After a reconnection it counts only presences heard since.
 *
 * One re-plan runs at a time; presence that arrives meanwhile is folded into the
 * next one. A re-plan is a short list of steps: roster → draft plan → shard ids →
 * offer the shards → plan. Anything bad from the network is logged and dropped.
 *
 * The draft is searched in a thread of its own within a time bound (plan-thread.ts), so
 * the broker beside the planner (`edgefuse up`) keeps serving meanwhile, and a search
 * that does not finish in time gives way to the all-LOP fallback plan, which says so.
 */
import { PlanError, errorMessage } from "../core/errors.js";
import type { Network } from "../dnn/network.js";
import { isSyntheticWeights, type WeightsHeader, type WeightsSource } from "../dnn/weights.js";
import type { Bus } from "../broker/bus.js";
import { decodePresence, type Presence } from "../broker/messages.js";
import { type Topics, topicsFor } from "../broker/topics.js";
import type { PlanOptions } from "./build.js";
import { planWithin } from "./plan-thread.js";
import { type PlanTopic, watchPlanTopic } from "./plan-topic.js";
import { type Readiness, readiness } from "./readiness.js";
import type { Plan, PlanDevice } from "./schema.js";
import { rosterDevices } from "./roster.js";
import { type ShardServer, startShardServer } from "./serve-shards.js";
import { settledRunner } from "./settled-runner.js";
import { buildShards, type ShardRecipe } from "./shards.js";

export interface PlannerOptions {
  /** A connected bus (broker/bus.ts connectBus); plans and shards are chunked to its packet limit. */
  readonly bus: Bus;
  readonly deployment: string;
  readonly network: Network;
  /** Where shard weights come from, read one layer at a time; a file's header says whether they are synthetic. */
  readonly weights: WeightsSource & { readonly header?: WeightsHeader };
  /** How to plan; the devices come from presence. */
  readonly planning: Partial<Omit<PlanOptions, "devices">>;
  /** Quiet time after the last roster change before planning: workers tend to arrive together. */
  readonly settleMs: number;
  /** Devices (the source counts as one) to wait for before the first plan; afterwards every roster change re-plans. */
  readonly minDevices: number;
  /**
   * A device of the plan that is not ready for it, and has neither asked for a shard nor
   * been sent one, for this long is left out of the next plan (readiness.ts).
   */
  readonly readyTimeoutMs: number;
  /** How long a plan may be searched before the fallback plan (every partitioned layer LOP) is published instead. */
  readonly planTimeoutMs: number;
  readonly log: (line: string) => void;
}
export const plannerDefaults = {
  planning: {},
  settleMs: 250,
  minDevices: 1,
  // A device's own shard fetch gives up after 30 s without news of its shards
  // (DEVICE_DEFAULTS.shardTimeoutMs): one silent that long is not coming.
  readyTimeoutMs: 30_000,
  // In a fresh thread on 2 busy cores, YOLOv2 took 3 s to plan for 6 devices and 23 s for 64 (0.15 s for 6 warm,
  // BENCHMARKS.md), and a small device is slower: the bound is for searches that do not end, as the ILP's on a
  // chain of 30 convolutions, not for large rosters.
  planTimeoutMs: 30_000,
  log: (line: string) => console.error(`planner: ${line}`),
} satisfies Partial<PlannerOptions>;

export interface PlannerActor {
  /** Workers present now, by id. */
  readonly roster: ReadonlyMap<string, Presence>;
  /** The plan last published; undefined when none is (no workers, or they cannot hold the model). */
  current(): Plan | undefined;
  /** Resolves with the outcome of the next re-plan: the plan published, or null when cleared. */
  nextPlan(): Promise<Plan | null>;
  /** Weight shards sent to devices so far (one per device and shard). */
  shardsSent(): number;
  /**
   * Stops planning and serving shards, and clears the retained plan: its shards could no
   * longer be had, and a shared broker keeps nothing of the deployment. `keepPlan` leaves
   * it for a planner that takes over at once (LocalSystem.replan).
   */
  stop(options?: { keepPlan?: boolean }): Promise<void>;
}

type Required = Pick<PlannerOptions, "bus" | "deployment" | "network" | "weights">;

export async function startPlanner(options: Required & Partial<PlannerOptions>): Promise<PlannerActor> {
  const opts = { ...plannerDefaults, ...options } satisfies PlannerOptions;
  const { bus, log } = opts;
  const topics = topicsFor(opts.deployment);

  const roster = new Map<string, Presence>();
  // Set once the runner exists; the parts call it only once messages flow.
  let requestRun = () => {};
  const { ready, shards, planTopic, drafts } = await startParts(opts, topics, roster, () => requestRun());
  const outcomes = outcomeWaiters();
  let current: Plan | undefined;
  let draftId: string | undefined;
  /** A plan has been published once (so minDevices no longer holds planning back). */
  let planned = false;
  /** The retained plan topic is empty: nothing to clear while waiting. */
  let cleared = false;

  // Roster → draft plan → shard ids → offer the shards → plan.
  const replan = async (): Promise<void> => {
    const eligible = [...roster.values()].filter((p) => !ready.leftOut(p));
    const next = await draftPlan(opts, eligible, !planned, drafts);
    if (replans.halted) return; // stopped while the draft was searched: stop() does the rest
    // The same roster in effect, or still nothing to publish: nothing new, but what the
    // topic holds may have been replaced or forgotten since.
    const unchanged = next !== null ? next.id === draftId : current === undefined && cleared;
    if (unchanged) {
      await planTopic.restore();
      return outcomes.settle(current ?? null);
    }
    const cut = next && (await cutShards(next, opts));
    // Offered before the plan is out: its devices ask for their shards as soon as they see it.
    shards.offer(cut?.recipes ?? new Map());
    const plan = cut?.plan ?? null;
    await planTopic.publish(plan);
    ready.watch(plan);
    draftId = next?.id; // only once published, so a failed attempt is retried in full
    current = plan ?? undefined;
    planned ||= plan !== null;
    cleared = plan === null;
    log(
      plan
        ? `published plan ${plan.id} for ${plan.devices.map((d) => d.workerId).join(", ")} (${cut!.recipes.size} shards)`
        : "cleared the plan",
    );
    outcomes.settle(plan);
  };
  const replans = settledRunner(opts.settleMs, replan, (err) => log(`re-plan failed: ${errorMessage(err)}`));
  requestRun = replans.request;
  // After a reconnection the presences heard before may be stale (a device may have died
  // while the link was down, its will unsent): the plan's devices must say again that they
  // are ready, and the plan topic is checked (plan-topic.ts marks it stale itself).
  const stopFollowing = bus.onReconnect(() => {
    ready.watch(current ?? null, { fresh: true });
    replans.request();
  });

  const subscription = await bus.subscribe(topics.filters.worker(), {
    onMessage: presenceTracker(topics, roster, ready, replans.request),
    onError: (err, topic) =>
      log(`ignored a message: ${err.message.startsWith(topic) ? "" : `${topic}: `}${err.message}`),
  });
  // With no worker retained on the broker, say so once: a stale retained plan must not outlive its workers.
  replans.request();

  return {
    roster,
    current: () => current,
    nextPlan: outcomes.wait,
    shardsSent: () => shards.sent,
    async stop({ keepPlan = false } = {}) {
      if (replans.halted) return;
      replans.halt();
      drafts.stop();
      stopFollowing();
      ready.stop();
      await subscription.unsubscribe();
      await replans.idle();
      await shards.stop();
      await planTopic.stop();
      if (!keepPlan && bus.connected) {
        await planTopic.publish(null);
        current = undefined;
      }
      outcomes.settle(current ?? null);
    },
  };
}

/**
 * What a re-plan works with beside the roster: the drafts, the readiness bound, the
 * shard server (whose traffic tells the bound a device is working) and the watched plan
 * topic; the bound and the topic ask for a re-plan through `request` when they must.
 */
async function startParts(
  opts: PlannerOptions,
  topics: Topics,
  roster: ReadonlyMap<string, Presence>,
  request: () => void,
): Promise<{ ready: Readiness; shards: ShardServer; planTopic: PlanTopic; drafts: Drafts }> {
  const { bus, log } = opts;
  const ready = readiness({
    timeoutMs: opts.readyTimeoutMs,
    presenceOf: (id) => roster.get(id),
    owedShard: (id) => shards.owes(id),
    onLeftOut: request,
    log,
  });
  const shards = await startShardServer({
    bus,
    topics,
    network: opts.network,
    weights: opts.weights,
    log,
    onActivity: (id) => ready.active(id),
  });
  const planTopic = await watchPlanTopic({ bus, topics, onStale: request, log });
  return { ready, shards, planTopic, drafts: drafter(opts) };
}

/** Callers waiting for the outcome of the next re-plan: the plan published, or null when cleared. */
function outcomeWaiters() {
  let waiters: ((p: Plan | null) => void)[] = [];
  return {
    wait: () => new Promise<Plan | null>((resolve) => waiters.push(resolve)),
    settle(outcome: Plan | null) {
      const done = waiters;
      waiters = [];
      for (const w of done) w(outcome);
    },
  };
}

/**
 * A plan for the workers present, or null: none present, fewer than minDevices before
 * the first plan, or they cannot hold the model (logged, as are workers refused).
 */
async function draftPlan(
  opts: PlannerOptions,
  present: Iterable<Presence>,
  first: boolean,
  drafts: Drafts,
): Promise<Plan | null> {
  const { log } = opts;
  const { devices, refused } = rosterDevices(present);
  for (const line of refused) log(line);
  if (devices.length === 0) return null;
  if (first && devices.length < opts.minDevices) {
    log(`waiting for ${opts.minDevices} devices before the first plan (${devices.length} present)`);
    return null;
  }
  return drafts.draft(devices);
}

/** Plans for the devices of a roster, searched off the main thread (plan-thread.ts). */
interface Drafts {
  /** The plan for these devices; null when they cannot hold the model (logged), or once stopped. */
  draft(devices: readonly PlanDevice[]): Promise<Plan | null>;
  /** Ends a search under way. */
  stop(): void;
}

/**
 * Drafts within the time bound, remembering the last: the same devices get the same
 * draft without a second search. Re-plans for an unchanged roster are frequent (each
 * device that becomes ready says so in its presence), and a search that ran out of time
 * once might finish the next time and send every device after other shards for nothing.
 */
function drafter(opts: PlannerOptions): Drafts {
  const { log } = opts;
  const syntheticWeights = opts.weights.header !== undefined && isSyntheticWeights(opts.weights.header);
  const stopping = new AbortController();
  let last: { key: string; plan: Plan | null } | undefined;
  const search = async (devices: readonly PlanDevice[]): Promise<Plan | null> => {
    const names = devices.map((d) => d.workerId).join(", ");
    try {
      const options = { ...opts.planning, devices, syntheticWeights };
      const bound = { timeLimitMs: opts.planTimeoutMs, signal: stopping.signal };
      const { plan, fellBack } = await planWithin(opts.network, options, bound);
      if (fellBack) log(`planning for ${names}: ${fellBack}`);
      return plan;
    } catch (err) {
      if (stopping.signal.aborted) return null;
      if (!(err instanceof PlanError)) throw err;
      log(`cannot plan for ${names}: ${err.message}`);
      return null;
    }
  };
  return {
    async draft(devices) {
      const key = JSON.stringify([...devices].sort((a, b) => (a.workerId < b.workerId ? -1 : 1)));
      if (last?.key === key) return last.plan;
      const plan = await search(devices);
      if (!stopping.signal.aborted) last = { key, plan };
      return plan;
    },
    stop: () => stopping.abort(),
  };
}

/** The plan with its shard ids, and how to cut each shard again when a device asks. */
async function cutShards(
  draft: Plan,
  { network, weights }: Pick<PlannerOptions, "network" | "weights">,
): Promise<{ plan: Plan; recipes: Map<string, ShardRecipe> }> {
  const recipes = new Map<string, ShardRecipe>();
  const built = await buildShards(draft, network, weights, (sha, _bytes, recipe) => {
    recipes.set(sha, recipe);
  });
  return { plan: built.plan, recipes };
}

/** Keeps the roster to the workers' presence messages, telling `ready` and calling `changed` when it may differ. */
function presenceTracker(
  topics: Topics,
  roster: Map<string, Presence>,
  ready: Readiness,
  changed: () => void,
): (topic: string, payload: Buffer) => void {
  return (topic, payload) => {
    const parsed = topics.parse(topic);
    if (parsed?.kind !== "worker") return;
    const presence = decodePresence(topic, payload);
    if (presence && presence.workerId !== parsed.workerId)
      throw new PlanError(`${topic}: presence names worker '${presence.workerId}'`);
    const before = roster.get(parsed.workerId);
    if (presence) roster.set(parsed.workerId, presence);
    else roster.delete(parsed.workerId);
    ready.heard(parsed.workerId, presence);
    if (before !== undefined || presence !== null) changed();
  };
}

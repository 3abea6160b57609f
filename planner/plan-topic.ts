/**
 * The planner's retained plan topic: the planner publishes its plan there (or clears it)
 * and watches it, so that what the devices find there stays its plan. Anything else
 * arriving there — an empty message that cleared it, bytes that are not a plan, another
 * plan — makes the topic stale, and so does a reconnection: a broker restarted without
 * persistence has forgotten it (one that kept it hands it back on resubscribing, which
 * makes the topic fresh again). `restore` then publishes the plan again.
 *
 * Staleness is acted on through the planner's settled runner, not at once: the planner's
 * own clear before a new plan comes back to it too, and by the time the run comes the
 * new plan has come back after it. One planner per deployment (the ACL gives the topic to
 * the planner role): two would restore their own plans over each other.
 */
import { errorMessage } from "../core/errors.js";
import type { Bus } from "../broker/bus.js";
import type { Topics } from "../broker/topics.js";
import type { Plan } from "./schema.js";

export interface PlanTopicOptions {
  readonly bus: Bus;
  readonly topics: Topics;
  /** The topic may no longer hold what was published: ask for a run that restores it. */
  readonly onStale: () => void;
  readonly log: (line: string) => void;
}

export interface PlanTopic {
  /** Publishes the plan (retained), or clears the topic with null. */
  publish(plan: Plan | null): Promise<void>;
  /** Something other than what was published last arrived, or the connection was lost, since. */
  readonly stale: boolean;
  /** When stale, publishes again what was published last, saying what the topic held. */
  restore(): Promise<void>;
  stop(): Promise<void>;
}

/** What a payload on the plan topic is, for the log. */
function describe(payload: Buffer): string {
  if (payload.byteLength === 0) return "an empty message (the plan cleared)";
  try {
    const id = (JSON.parse(payload.toString("utf8")) as { id?: unknown } | null)?.id;
    if (typeof id === "string") return `another plan (${id.slice(0, 16)})`;
  } catch {
    // not JSON: said below
  }
  return `${payload.byteLength} bytes that are not a plan`;
}

export async function watchPlanTopic(o: PlanTopicOptions): Promise<PlanTopic> {
  const { bus, topics, log } = o;
  /** The bytes published last (a plan's JSON; empty when cleared); undefined before the first publish. */
  let expected: Buffer | undefined;
  let expectedName = "";
  let planChunks = 0;
  /** The planner's own publishing is under way: its clear and plan coming back are not news. */
  let publishing = false;
  let stale = false;
  let found = "";

  const markStale = (what: string) => {
    stale = true;
    found = what;
    o.onStale();
  };
  const subscription = await bus.subscribe(topics.plan(), {
    onMessage: (_topic, payload) => {
      if (expected === undefined || publishing) return;
      if (payload.equals(expected)) stale = false;
      else markStale(describe(payload));
    },
    onError: (err, topic) => log(`ignored a message on the plan topic: ${topic}: ${errorMessage(err)}`),
  });
  const stopFollowing = bus.onReconnect(() => {
    if (expected !== undefined) markStale("nothing known (the connection to the broker was lost)");
  });

  /** Publishes `bytes` as the topic's retained message, clearing a chunked one first when `clearFirst`. */
  const write = async (bytes: Buffer, clearFirst: boolean) => {
    publishing = true;
    try {
      if (clearFirst || bytes.byteLength === 0) await bus.clearRetained(topics.plan(), planChunks);
      planChunks =
        bytes.byteLength > 0 ? (await bus.publish(topics.plan(), bytes, { qos: 1, retain: true })).chunkCount : 0;
      stale = false;
    } catch (err) {
      stale = true; // what the broker holds now is not known: the next run tries again
      found = `nothing known (publishing failed: ${errorMessage(err)})`;
      throw err;
    } finally {
      publishing = false;
    }
  };

  return {
    async publish(plan) {
      const bytes = plan ? Buffer.from(JSON.stringify(plan)) : Buffer.alloc(0);
      // A retained chunked plan must be cleared before a different one takes its topic;
      // a plan sent whole is simply replaced.
      const clearFirst = planChunks > 0;
      expected = bytes;
      expectedName = plan ? `plan ${plan.id}` : "no plan";
      await write(bytes, clearFirst);
    },
    get stale() {
      return stale;
    },
    async restore() {
      if (!stale || expected === undefined) return;
      const held = found;
      // The same bytes again: a chunked plan rewrites identical chunks (their message id
      // is their content's), so nothing is cleared first.
      await write(expected, false);
      log(
        `the plan topic held ${held}, not ${expectedName}: published ${expected.byteLength ? "it" : "the clearing"} again`,
      );
    },
    async stop() {
      stopFollowing();
      await subscription.unsubscribe();
    },
  };
}

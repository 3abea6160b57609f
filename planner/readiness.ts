/**
 * The bound on how long a plan waits for its devices. After the planner publishes a plan,
 * each of its devices must say it is ready for it (its presence's readyPlanId); one that
 * neither does so nor shows it is working on the plan — asking for a shard, being sent
 * one, or waiting for one the planner owes it — for `timeoutMs` is left out of the next
 * plan, with a log line, and stays out until it announces itself anew (a presence with
 * another startedAt: it restarted) or leaves.
 *
 * So a retained presence that no live device stands behind (a spoofed `ghost`, or a
 * device that died while the broker was down and could not send its will) holds planning
 * up for one bound, never for ever; a device on a slow link is never left out while its
 * shards are still arriving.
 */
import type { Presence } from "../broker/messages.js";
import type { Plan } from "./schema.js";

export interface ReadinessOptions {
  /** Silence after which a device not yet ready for the plan is left out. */
  readonly timeoutMs: number;
  /** The device's presence as the planner last heard it. */
  readonly presenceOf: (deviceId: string) => Presence | undefined;
  /** Whether the planner owes this device a shard now (asked for and not yet sent): its wait, not its silence. */
  readonly owedShard: (deviceId: string) => boolean;
  /** A device was left out: plan again. */
  readonly onLeftOut: (deviceId: string) => void;
  readonly log: (line: string) => void;
}

export interface Readiness {
  /**
   * Waits for `plan`'s devices from now, instead of any plan before. A device whose
   * presence already says it is ready for this plan counts, unless `fresh`: after a
   * reconnection the presences heard before may be stale, and only those heard from now
   * on count (a broker that kept them hands them back on resubscribing).
   */
  watch(plan: Plan | null, options?: { fresh?: boolean }): void;
  /** A presence heard from a device, or null when it left. */
  heard(deviceId: string, presence: Presence | null): void;
  /** The device asked for a shard or was sent one. */
  active(deviceId: string): void;
  /** Whether this is the presence of a device left out (it has not restarted since). */
  leftOut(presence: Presence): boolean;
  stop(): void;
}

export function readiness(o: ReadinessOptions): Readiness {
  let planId: string | undefined;
  /** Devices of the plan not yet ready for it, and when each last showed it was working on it. */
  const waiting = new Map<string, number>();
  /** Devices left out, and the startedAt of the presence they were left out with. */
  const leftOut = new Map<string, string>();
  let timer: NodeJS.Timeout | undefined;

  const check = () => {
    timer = undefined;
    const now = performance.now();
    for (const [deviceId, since] of waiting) {
      if (o.owedShard(deviceId)) waiting.set(deviceId, now);
      else if (now - since >= o.timeoutMs) leaveOut(deviceId);
    }
    schedule();
  };
  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (waiting.size === 0) return;
    const earliest = Math.min(...waiting.values());
    timer = setTimeout(check, Math.max(10, earliest + o.timeoutMs - performance.now()));
    timer.unref();
  };
  const leaveOut = (deviceId: string) => {
    waiting.delete(deviceId);
    const presence = o.presenceOf(deviceId);
    if (!presence) return; // gone meanwhile: the roster change plans again
    leftOut.set(deviceId, presence.startedAt);
    o.log(
      `device ${deviceId} was not ready for plan ${planId} within ${o.timeoutMs} ms and asked for no shard meanwhile: planning without it until it restarts or leaves`,
    );
    o.onLeftOut(deviceId);
  };

  return {
    watch(plan, { fresh = false } = {}) {
      planId = plan?.id;
      waiting.clear();
      const now = performance.now();
      for (const { workerId } of plan?.devices ?? []) {
        if (!fresh && o.presenceOf(workerId)?.readyPlanId === plan!.id) continue;
        waiting.set(workerId, now);
      }
      schedule();
    },
    heard(deviceId, presence) {
      const startedAt = leftOut.get(deviceId);
      if (startedAt !== undefined && presence?.startedAt !== startedAt) leftOut.delete(deviceId);
      if (!presence) waiting.delete(deviceId);
      else if (presence.readyPlanId !== undefined && presence.readyPlanId === planId) waiting.delete(deviceId);
      schedule();
    },
    active(deviceId) {
      if (waiting.has(deviceId)) waiting.set(deviceId, performance.now());
    },
    leftOut: (presence) => leftOut.get(presence.workerId) === presence.startedAt,
    stop() {
      waiting.clear();
      schedule();
    },
  };
}

/**
 * Admission: how many requests the source runs at once, and what waits. Up to
 * `inFlight` requests run together (their tasks interleave on the devices, so a link
 * carries one frame's tensors while the devices compute another's); the rest wait in a
 * queue of at most `queue`, oldest first. When the queue is full a new request is
 * refused ("reject": the deployment is busy) or the oldest waiting one is dropped for it
 * ("drop-oldest": a camera's stale frame). Every request either runs or is refused with
 * one error: nothing is lost without a word. `close` (the source stopping) refuses what
 * waits or comes later and lets what runs end.
 */
import { type Load, OVERFLOW_POLICIES } from "../../broker/messages.js";
import { FLOAT32_BYTES } from "../../core/dtypes.js";
import { EdgefuseError } from "../../core/errors.js";
import type { Plan } from "../../planner/schema.js";

export { OVERFLOW_POLICIES };
export type OverflowPolicy = (typeof OVERFLOW_POLICIES)[number];

export interface AdmissionOptions {
  /** How many run at once: a number, or asked each time one could start (it may follow the plan). */
  readonly inFlight: number | (() => number);
  readonly queue: number;
  readonly overflow: OverflowPolicy;
  /** Called whenever what load() says may have changed (the source publishes it, load.ts). */
  readonly onChange?: () => void;
}

/** What admission says of itself: the source's `load` topic without its timestamp. */
export type AdmissionLoad = Omit<Load, "timestamp">;

interface Waiting {
  /** When it was admitted to the queue (performance.now()). */
  readonly queuedAt: number;
  readonly run: (queuedMs: number) => Promise<void>;
  readonly refuse: (err: EdgefuseError) => Promise<void>;
}

export interface Admission {
  /** Runs `run` when a slot is free (with the time it waited), or calls `refuse` once with why it will not run. */
  admit(
    requestId: string,
    run: (queuedMs: number) => Promise<void>,
    refuse: (err: EdgefuseError) => Promise<void>,
  ): void;
  /** Stopping: every waiting request is refused with `reason`, none starts again; resolves when the running ones have ended. */
  close(reason: string): Promise<void>;
  /** Requests running and waiting now, the limits, and how many were refused and dropped so far. */
  load(): AdmissionLoad;
}

/**
 * The requests a plan lets run at once: each device holds its shards and, per request in
 * flight, its largest feature maps (the plan's featureElements, float32), so the devices
 * with the least room beside their shards bound it; between 1 and MAX_AUTO_IN_FLIGHT, and
 * 2 when the plan does not say the devices' budgets.
 */
export const MAX_AUTO_IN_FLIGHT = 4;
export function inFlightFor(plan: Plan): number {
  const room = plan.devices.map((d) => {
    const cost = plan.cost.perDevice.find((c) => c.workerId === d.workerId);
    if (d.memoryBudgetBytes === undefined || !cost?.featureElements) return Infinity;
    return Math.floor((d.memoryBudgetBytes - cost.shardBytes) / (FLOAT32_BYTES * cost.featureElements));
  });
  const least = Math.min(...room);
  return Number.isFinite(least) ? Math.max(1, Math.min(MAX_AUTO_IN_FLIGHT, least)) : 2;
}

export function admission(o: AdmissionOptions, onError: (err: unknown) => void): Admission {
  const waiting: Waiting[] = [];
  const running = new Set<Promise<void>>();
  let closed: string | undefined;
  const drained: (() => void)[] = [];
  let refused = 0;
  let dropped = 0;
  const changed = () => o.onChange?.();

  const limit = () => (typeof o.inFlight === "number" ? o.inFlight : o.inFlight());
  const start = () => {
    while (running.size < limit() && waiting.length > 0) {
      const next = waiting.shift()!;
      const job = next
        .run(performance.now() - next.queuedAt)
        .catch(onError)
        .finally(() => {
          running.delete(job);
          if (running.size === 0) for (const d of drained.splice(0)) d();
          start();
          changed();
        });
      running.add(job);
    }
  };

  const busy = () =>
    `${running.size} running (--in-flight ${limit()}) and ${waiting.length} waiting (--queue ${o.queue})`;

  return {
    admit(requestId, run, refuse) {
      if (closed !== undefined) return void refuse(new EdgefuseError("stopping", closed)).catch(onError);
      if (waiting.length >= o.queue) {
        if (o.overflow === "reject" || o.queue === 0) {
          refused++;
          changed();
          void refuse(
            new EdgefuseError("busy", `the deployment is busy: ${busy()}; request ${requestId} refused`),
          ).catch(onError);
          return;
        }
        const stale = waiting.shift()!;
        dropped++;
        void stale
          .refuse(
            new EdgefuseError(
              "dropped",
              `dropped unrun: request ${requestId} arrived while ${busy()}, and the oldest waiting gives way (--overflow drop-oldest)`,
            ),
          )
          .catch(onError);
      }
      waiting.push({ queuedAt: performance.now(), run, refuse });
      start();
      changed();
    },
    close(reason) {
      closed = reason;
      // Nothing waits from now on, so nothing more starts.
      for (const w of waiting.splice(0)) void w.refuse(new EdgefuseError("stopping", reason)).catch(onError);
      changed();
      return running.size === 0 ? Promise.resolve() : new Promise<void>((r) => drained.push(r));
    },
    load: () => ({
      inFlight: running.size,
      queued: waiting.length,
      inFlightLimit: limit(),
      queueLimit: o.queue,
      overflow: o.overflow,
      refused,
      dropped,
    }),
  };
}

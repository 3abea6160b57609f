/**
 * Plans off the main thread, within a time bound. makePlan is pure but may search for
 * long (least C on a plain chain of 30 convolutions, the ILP's branch and bound, did
 * not finish in 90 s), and in `edgefuse up` the planner shares its process with the
 * embedded broker: a search on the main thread would stop the broker serving anyone.
 *
 * Each plan is made in a worker thread started for it and ended after it: re-plans are
 * rare, and a thread kept waiting between them would hold its own heap on the device for
 * nothing. A search that runs past the bound is terminated, and the fallback plan
 * (build.ts fallbackPlan) is made in a fresh thread instead. That one has no bound: it
 * searches nothing, so it takes what laying out the FTP candidates takes, and a bound
 * set tight for a slow device must not leave it with no plan at all. The plan says why
 * it is the fallback in its warnings.
 *
 * The thread is given the network and the options by structured clone: the layers are
 * plain objects and the pinned schemes a Map, small next to the thread's start-up, so
 * there is nothing worth transferring. Its answer is checked like any plan from outside
 * the process.
 */
import { Worker } from "node:worker_threads";
import { z } from "zod";
import { EdgefuseError, PlanError } from "../core/errors.js";
import { threadScript } from "../core/thread-script.js";
import type { Network } from "../dnn/network.js";
import { planDefaults, type PlanOptions } from "./build.js";
import { parsePlan, type Plan } from "./schema.js";

/** What the thread is asked: the plan makePlan makes, or, with `fallback`, the fallback plan with that warning. */
export interface PlanJob {
  readonly network: Network;
  readonly options: Pick<PlanOptions, "devices"> & Partial<PlanOptions>;
  readonly fallback?: string;
}

/** What the thread answers: a plan, or the message of what it threw (and whether that was a PlanError). */
export const threadReplySchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("plan"), plan: z.unknown() }),
  z.object({ kind: z.literal("error"), message: z.string(), planError: z.boolean() }),
]);
export type ThreadReply = z.infer<typeof threadReplySchema>;

export interface BoundedPlanOptions {
  /** How long the search may take, the thread's start-up included, before the fallback plan is made instead. */
  readonly timeLimitMs: number;
  /** Ends the search (or the fallback) at once; the promise then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface BoundedPlan {
  readonly plan: Plan;
  /** Why this is the fallback plan (also its last warning); absent when the search finished in time. */
  readonly fellBack?: string;
}

/**
 * The plan makePlan makes for `options`, searched in a thread of its own; past
 * `timeLimitMs`, the fallback plan. A PlanError (no plan fits the devices) is thrown
 * here as it was there.
 */
export async function planWithin(
  network: Network,
  options: PlanJob["options"],
  { timeLimitMs, signal }: BoundedPlanOptions,
): Promise<BoundedPlan> {
  const searched = await inThread({ network, options }, timeLimitMs, signal);
  if (searched) return { plan: searched };
  const fellBack = `the plan search (objective ${options.objective ?? planDefaults.objective}, scheme ${options.strategy ?? planDefaults.strategy}) did not finish within ${durationText(timeLimitMs)}: every partitioned layer runs LOP instead`;
  const fallback = await inThread({ network, options, fallback: fellBack }, Infinity, signal);
  return { plan: fallback!, fellBack }; // without a bound there is always a plan
}

/** 10 s, 2.5 s, 800 ms. */
const durationText = (ms: number) => (ms >= 1000 ? `${Number((ms / 1000).toFixed(1))} s` : `${ms} ms`);

/** One job in a thread of its own: its plan, or undefined when it ran past `timeLimitMs` (and was ended; Infinity: never). */
function inThread(job: PlanJob, timeLimitMs: number, signal?: AbortSignal): Promise<Plan | undefined> {
  signal?.throwIfAborted();
  const thread = new Worker(
    threadScript(import.meta.url, "planner/plan-thread-entry.js", "plan", "the planning thread"),
    {
      workerData: job,
    },
  );
  return new Promise<Plan | undefined>((resolve, reject) => {
    let settled = false;
    /** Settles once, after the thread has ended: the next job never runs beside a terminated search. */
    const settle = (outcome: () => Plan | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      void thread.terminate().then(() => {
        try {
          resolve(outcome());
        } catch (err) {
          reject(err);
        }
      }, reject);
    };
    const timer = Number.isFinite(timeLimitMs) ? setTimeout(() => settle(() => undefined), timeLimitMs) : undefined;
    const abort = () =>
      settle(() => {
        throw signal!.reason;
      });
    signal?.addEventListener("abort", abort, { once: true });
    thread.once("message", (message: unknown) => settle(() => planOf(message)));
    thread.once("error", (err) =>
      settle(() => {
        throw new EdgefuseError("plan", `the planning thread failed: ${err.message}`);
      }),
    );
    thread.once("exit", (code) =>
      settle(() => {
        throw new EdgefuseError("plan", `the planning thread exited (code ${code}) without a plan`);
      }),
    );
  });
}

/** The plan in a thread's reply, or what it threw, thrown here: a PlanError as a PlanError. */
function planOf(message: unknown): Plan {
  const reply = threadReplySchema.safeParse(message);
  if (!reply.success) throw new EdgefuseError("plan", "the planning thread answered something that is not a reply");
  if (reply.data.kind === "plan") return parsePlan(reply.data.plan, "the planning thread's plan");
  if (reply.data.planError) throw new PlanError(reply.data.message);
  throw new EdgefuseError("plan", `the planning thread failed: ${reply.data.message}`);
}

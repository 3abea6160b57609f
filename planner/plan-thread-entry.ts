/**
 * The planning thread (plan-thread.ts starts it): makes the one plan it is given as
 * workerData, answers it, and ends. What it throws is answered as a message, so the
 * main thread can tell a plan that cannot be made (PlanError) from a failure.
 */
import { parentPort, workerData } from "node:worker_threads";
import { EdgefuseError, errorMessage, PlanError } from "../core/errors.js";
import { fallbackPlan, makePlan } from "./build.js";
import type { PlanJob, ThreadReply } from "./plan-thread.js";

function answer(job: PlanJob): ThreadReply {
  try {
    const plan =
      job.fallback === undefined
        ? makePlan(job.network, job.options)
        : fallbackPlan(job.network, job.options, job.fallback);
    return { kind: "plan", plan };
  } catch (err) {
    return { kind: "error", message: errorMessage(err), planError: err instanceof PlanError };
  }
}

if (!parentPort)
  throw new EdgefuseError("plan", "plan-thread-entry.js runs as a worker thread (plan-thread.ts starts it)");
parentPort.postMessage(answer(workerData as PlanJob));

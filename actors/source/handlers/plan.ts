/**
 * `plan` (retained): [parse, fail the jobs running on the old plan (its devices move on)
 * and let them end, drop the old plan, prepare the new one, announce ready]. Plans are followed one at a time (the state's planQueue);
 * one that cannot be followed is logged and the source waits for the next.
 */
import { EdgefuseError } from "../../../core/errors.js";
import { type Followed, followPlan } from "../../runtime/device.js";
import { TaskExecutor } from "../../runtime/executor.js";
import { prepareSource } from "../../runtime/job.js";
import { tasksOf } from "../../runtime/schedule.js";
import { type SourceHandler, SourceState } from "../state.js";

export const handlePlan: SourceHandler = (state, topic, payload) =>
  state.planQueue(() => followNewPlan(state, topic, payload));

async function followNewPlan(state: SourceState, topic: string, payload: Buffer): Promise<void> {
  const followed = followPlan(payload, topic);
  if (followed?.plan.id === state.current?.followed.plan.id) return;
  const included = followed !== null && SourceState.includes(followed, state.sourceId);
  if (followed && !included)
    state.log(`plan ${followed.plan.id} does not include this device; waiting for one that does`);
  // No request starts on a plan being left (notReady says so while switching). The devices
  // follow the new plan at once and drop the old one's tasks, so a job still running on it
  // would only wait out its deadline: it fails now, saying why, and the switch waits for it to end.
  state.switching = true;
  try {
    const left = state.current?.followed.plan.id;
    for (const jobId of state.running.keys())
      state.dispatcher.fail(
        jobId,
        new EdgefuseError(
          "plan-changed",
          `plan ${followed?.plan.id ?? "(none)"} replaced plan ${left} while job ${jobId} ran, and its devices follow the new one: send the request again`,
        ),
      );
    await Promise.all([...state.running.values()].map((job) => job.done));
    await switchTo(state, followed, included);
  } finally {
    state.switching = false;
    state.checkReady();
  }
}

async function switchTo(state: SourceState, followed: Followed | null, included: boolean): Promise<void> {
  await state.releaseCurrent();
  if (!followed || !included) return void (await state.announce());
  const { runtime, jobTimeoutMs } = state.options;
  const executor = new TaskExecutor(followed.network, {
    runtime,
    fetchShard: state.fetchShard,
    memoryBudgetBytes: state.memory.budgetBytes,
    keptTtlMs: jobTimeoutMs * 2,
  });
  await executor.prepareAll(tasksOf(followed.schedule, state.sourceId));
  const prepared = await prepareSource(followed.network, followed.schedule, runtime, state.fetchShard);
  state.current = { followed, executor, prepared };
  state.log(`ready for plan ${followed.plan.id} on ${followed.plan.devices.map((d) => d.workerId).join(", ")}`);
  await state.announce(followed.plan.id);
  state.checkReady();
}

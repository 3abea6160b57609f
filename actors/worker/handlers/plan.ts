/**
 * The worker's plan topic (retained): a new plan replaces the old one. The worker
 * builds an executor for its own tasks, subscribes to their inputs, prepares them
 * (shards fetched on demand from the planner, runtime/fetch-shard.ts; stages compiled)
 * and announces itself ready for the plan. An empty plan clears it.
 */
import { followPlan } from "../../runtime/device.js";
import { TaskExecutor } from "../../runtime/executor.js";
import { tasksOf } from "../../runtime/schedule.js";
import { announcePresence, dropPlan, type WorkerPlan, type WorkerState } from "../state.js";
import { subscribeTasks } from "./task.js";

/** A plan message: [parse, drop the old, subscribe, prepare, announce ready]. */
export async function handlePlan(state: WorkerState, topic: string, payload: Buffer): Promise<void> {
  const followed = followPlan(payload, topic);
  const current = state.plan;
  // The same plan again is news only if preparing it failed (its planner was away, say): try again.
  if (followed?.plan.id === current?.followed.plan.id && (current === undefined || current.ready)) return;
  await dropPlan(state);
  if (!followed) return void (await announcePresence(state));
  const { options: o, memory, workerId } = state;
  const mine = tasksOf(followed.schedule, workerId);
  const executor = new TaskExecutor(followed.network, {
    runtime: o.runtime,
    fetchShard: state.fetchShard,
    memoryBudgetBytes: memory.budgetBytes,
    keptTtlMs: o.keptTtlMs,
  });
  const plan: WorkerPlan = {
    followed,
    tasks: new Map(mine.map((t) => [t.id, t])),
    executor,
    placements: new WeakMap(),
    subscription: undefined,
    ready: false,
  };
  plan.subscription = mine.length ? await subscribeTasks(state, plan) : undefined;
  state.plan = plan;
  await executor.prepareAll(mine);
  state.log(
    `${state.where}: ready for plan ${followed.plan.id} (${mine.length} tasks, ${(executor.weightBytes / 1e6).toFixed(1)} MB of weights)`,
  );
  await announcePresence(state, followed.plan.id);
  plan.ready = true;
}

/**
 * A worker's state, as one object its handlers (handlers/) read and change: who it is
 * and what it was given, its Bus and topics, and the plan it follows with what it built
 * for it (the executor, its tasks, the inputs being reassembled in place). Plans and
 * tasks reach the handlers through one queue (`enqueue`), so a handler never sees the
 * plan change under it.
 */
import { errorMessage } from "../../core/errors.js";
import type { Runtime } from "../../dnn/onnx/runtime.js";
import type { Bus } from "../../broker/bus.js";
import type { Placement } from "../../broker/chunking.js";
import type { ChunkedSubscription } from "../../broker/client.js";
import type { ErrorOrigin } from "../../broker/messages.js";
import { type Topics, topicsFor } from "../../broker/topics.js";
import {
  announce,
  type DeviceLinks,
  type DeviceMemory,
  deviceMemory,
  type Followed,
  presenceOf,
} from "../runtime/device.js";
import type { ShardFetcher, TaskExecutor } from "../runtime/executor.js";
import { brokerShardFetcher } from "../runtime/fetch-shard.js";
import { serialQueue } from "../runtime/report.js";
import type { Task } from "../runtime/schedule.js";
import { DEVICE_DEFAULTS } from "../defaults.js";

/** Its link rates (DeviceLinks) go into its presence as given. */
export interface WorkerOptions extends DeviceLinks {
  readonly bus: Bus;
  readonly deployment: string;
  readonly workerId: string;
  /** The device's whole memory for edgefuse (`--memory`): this process, its weights and activations. */
  readonly memoryBudgetBytes: number;
  /** What the process holds before any shard; measured when not given (deviceMemory). */
  readonly baselineBytes?: number;
  readonly gmacPerSec: number;
  readonly runtime: Runtime;
  readonly shardTimeoutMs: number;
  /** How long a slice kept for reuse waits for the task that reuses it. */
  readonly keptTtlMs: number;
  readonly log: (line: string) => void;
}
export const workerDefaults = {
  ...DEVICE_DEFAULTS,
  keptTtlMs: 60_000,
} satisfies Partial<WorkerOptions>;

export type RequiredWorkerOptions = Pick<
  WorkerOptions,
  "bus" | "deployment" | "workerId" | "memoryBudgetBytes" | "gmacPerSec" | "runtime"
>;

/** A task's input that its message was reassembled into: the received channels around the slice it keeps (see handlers/task.ts). */
export interface Placed {
  readonly task: Task;
  readonly input: Float32Array;
}

/** The plan a worker follows and what it built for it. */
export interface WorkerPlan {
  readonly followed: Followed;
  /** This worker's tasks by `<layer>/<part>`, the levels of their partIn topics. */
  readonly tasks: ReadonlyMap<string, Task>;
  readonly executor: TaskExecutor;
  /** Inputs being reassembled in place, by the pieces the reassembler fills: which task's input each is. */
  readonly placements: WeakMap<Placement, Placed>;
  /** Its tasks' partIn topics; none when the plan gives this worker no task. */
  subscription: ChunkedSubscription | undefined;
  /** Every task is prepared and the presence says so. */
  ready: boolean;
}

export interface WorkerState {
  readonly options: WorkerOptions;
  readonly bus: Bus;
  readonly workerId: string;
  /** How log lines and error reports name this worker. */
  readonly where: string;
  /** How its error reports are signed (ErrorOrigin), so readers know them by who sent them. */
  readonly origin: ErrorOrigin;
  readonly topics: Topics;
  readonly memory: DeviceMemory;
  readonly fetchShard: ShardFetcher;
  readonly startedAt: string;
  readonly log: (line: string) => void;
  /** Runs plan and task work one at a time, in arrival order. */
  readonly enqueue: (work: () => Promise<void>) => Promise<void>;
  /** The plan followed, ready or still being prepared (or failed to prepare); none before the first or after a cleared one. */
  plan: WorkerPlan | undefined;
  stopped: boolean;
}

/** Measures the device's memory (refusing one that leaves nothing) and builds the state, following no plan yet. */
export async function createWorkerState(options: RequiredWorkerOptions & Partial<WorkerOptions>): Promise<WorkerState> {
  const o = { ...workerDefaults, ...options } satisfies WorkerOptions;
  const { bus, workerId, log } = o;
  const topics = topicsFor(o.deployment);
  const where = `worker ${workerId}`;
  const memory = await deviceMemory(where, o.runtime, o.memoryBudgetBytes, o.baselineBytes);
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  log(
    `${where}: ${mb(memory.memoryBytes)} of memory: ${mb(memory.baselineBytes)} this process before any weights, ${mb(memory.budgetBytes)} for weights and activations`,
  );
  return {
    options: o,
    bus,
    workerId,
    where,
    origin: { role: "worker", deviceId: workerId },
    topics,
    memory,
    fetchShard: brokerShardFetcher(bus, topics, {
      deviceId: workerId,
      timeoutMs: o.shardTimeoutMs,
      maxMessageBytes: memory.budgetBytes,
    }),
    startedAt: new Date().toISOString(),
    log,
    enqueue: serialQueue((err) => log(`${where}: ${errorMessage(err)}`)),
    plan: undefined,
    stopped: false,
  };
}

/** The worker's retained presence; with `readyPlanId`, it says the worker is ready for that plan and what weights it holds. */
export function announcePresence(state: WorkerState, readyPlanId?: string): Promise<void> {
  const identity = {
    deviceId: state.workerId,
    role: "worker",
    options: state.options,
    memory: state.memory,
    startedAt: state.startedAt,
  } as const;
  const ready = readyPlanId ? { planId: readyPlanId, weightBytes: state.plan?.executor.weightBytes ?? 0 } : undefined;
  return announce(state.bus, state.topics, presenceOf(identity, ready));
}

/** Stops following the current plan: its task topics unsubscribed, its stages and kept slices released. */
export async function dropPlan(state: WorkerState): Promise<void> {
  const old = state.plan;
  state.plan = undefined;
  if (!old) return;
  await old.subscription?.unsubscribe();
  await old.executor.release();
}

/** The plan this worker is prepared for: a plan it failed to prepare (a bad shard, say) is followed but not ready. */
export const readyPlanIdOf = (state: WorkerState): string | undefined =>
  state.plan?.ready ? state.plan.followed.plan.id : undefined;

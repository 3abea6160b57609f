/**
 * The worker actor: stateless but for caches. It announces itself (again after every
 * reconnection), follows the retained plan, subscribes to the input topics of its own
 * tasks, prepares them (shards fetched on demand, stages compiled), says it is ready,
 * and then runs each task that arrives and publishes its output. Everything bad from
 * the network is reported on `errors/<jobId>` (or logged when there is no job) and dropped.
 *
 * This file wires it up: its state (state.ts) and one handler per topic kind it reads
 * (handlers/plan.ts for the plan, handlers/task.ts for its tasks' inputs). Its shards
 * arrive on topics of its own that the shard fetcher (runtime/fetch-shard.ts) reads
 * for the executor while a plan is prepared.
 */
import { errorMessage } from "../../core/errors.js";
import { withdraw } from "../runtime/device.js";
import { scavengeEvery } from "../runtime/executor.js";
import { handlePlan } from "./handlers/plan.js";
import {
  announcePresence,
  createWorkerState,
  dropPlan,
  readyPlanIdOf,
  type RequiredWorkerOptions,
  type WorkerOptions,
} from "./state.js";

export { type WorkerOptions, workerDefaults } from "./state.js";

export interface WorkerActor {
  readonly workerId: string;
  /** The plan this worker is prepared for, if any. */
  readyPlanId(): string | undefined;
  /** Weight bytes its compiled stages hold now. */
  weightBytes(): number;
  stop(): Promise<void>;
}

/** Received bytes between two scavenges (see scavengeEvery): eight 256 KB packets. */
const SCAVENGE_EVERY_BYTES = 2 << 20;

export async function startWorker(options: RequiredWorkerOptions & Partial<WorkerOptions>): Promise<WorkerActor> {
  const state = await createWorkerState(options);
  const { bus, topics, workerId, where, log } = state;

  const scavenge = scavengeEvery(SCAVENGE_EVERY_BYTES);
  const stopScavenging = bus.onPacket((_topic, payload) => scavenge(payload.byteLength));

  await announcePresence(state);
  // After a reconnection the presence may be gone: a broker restarted without persistence
  // has forgotten it, one that saw the link drop has published the will. Say it again, with
  // the plan this worker is ready for (queued, so it never overtakes a plan being followed).
  const stopReannouncing = bus.onReconnect(() => {
    if (!state.stopped) void state.enqueue(() => announcePresence(state, readyPlanIdOf(state)));
  });
  const planSubscription = await bus.subscribe(topics.plan(), {
    // A plan is the cfg and the tiles: far below any budget, but never more than it.
    maxMessageBytes: state.memory.budgetBytes,
    onMessage: (topic, payload) => state.enqueue(() => handlePlan(state, topic, payload)),
    onError: (err) => log(`${where}: ignored a plan message: ${errorMessage(err)}`),
  });

  return {
    workerId,
    readyPlanId: () => readyPlanIdOf(state),
    weightBytes: () => state.plan?.executor.weightBytes ?? 0,
    async stop() {
      if (state.stopped) return;
      state.stopped = true;
      stopReannouncing();
      await planSubscription.unsubscribe().catch(() => undefined);
      stopScavenging();
      await state.enqueue(() => dropPlan(state));
      await withdraw(bus, topics, workerId).catch(() => undefined);
    },
  };
}

/**
 * The worker actor: stateless but for caches. It announces itself, follows the
 * retained plan, subscribes to the input topics of its own tasks, prepares them
 * (shards fetched on demand, stages compiled), says it is ready, and then runs each
 * task that arrives and publishes its output. Everything bad from the network is
 * reported on `errors/<jobId>` (or logged when there is no job) and dropped.
 */
import { errorMessage, ShapeError, WireError } from "../../core/errors.js";
import { shapeSize, shapeText } from "../../dnn/network.js";
import type { Runtime } from "../../dnn/onnx/runtime.js";
import { type ChunkedSubscription, type MqttClient, publishChunked, subscribeChunked } from "../../broker/client.js";
import type { Placement } from "../../broker/chunking.js";
import { decodeFrame, decodeFrameHeader, FRAME_HEADER_BYTES, frameParts } from "../../broker/frame.js";
import { JOB_TENSOR_QOS, topicsFor } from "../../broker/topics.js";
import { announce, deviceMemory, followPlan, VERSION, withdraw, type Followed } from "../runtime/device.js";
import { scavengeEvery, TaskExecutor } from "../runtime/executor.js";
import { brokerShardFetcher } from "../runtime/fetch-shard.js";
import { reportError, serialQueue } from "../runtime/report.js";
import { tasksOf, type Task } from "../runtime/schedule.js";
import { isShape } from "../runtime/tensors.js";
import { FLOAT32_BYTES } from "../../core/dtypes.js";
import { DEFAULT_MAX_PACKET_BYTES } from "../../broker/client.js";

export interface WorkerOptions {
  readonly client: MqttClient;
  readonly deployment: string;
  readonly workerId: string;
  /** The device's whole memory for edgefuse (`--memory`): this process, its weights and activations. */
  readonly memoryBudgetBytes: number;
  /** What the process holds before any shard; measured when not given (deviceMemory). */
  readonly baselineBytes?: number;
  readonly gmacPerSec: number;
  readonly runtime: Runtime;
  readonly maxPacketBytes: number;
  readonly shardTimeoutMs: number;
  /** How long a slice kept for reuse waits for the task that reuses it. */
  readonly keptTtlMs: number;
  readonly log: (line: string) => void;
}
export const workerDefaults = {
  maxPacketBytes: DEFAULT_MAX_PACKET_BYTES,
  shardTimeoutMs: 30_000,
  keptTtlMs: 60_000,
  log: (line: string) => console.error(line),
} satisfies Partial<WorkerOptions>;

export interface WorkerActor {
  readonly workerId: string;
  /** The plan this worker is prepared for, if any. */
  readyPlanId(): string | undefined;
  /** Weight bytes its compiled stages hold now. */
  weightBytes(): number;
  stop(): Promise<void>;
}

interface Current {
  readonly followed: Followed;
  /** Every task is prepared and the presence says so. */
  ready: boolean;
  readonly tasks: ReadonlyMap<string, Task>;
  readonly executor: TaskExecutor;
  readonly subscription?: ChunkedSubscription;
}

/** A task's input that its message was reassembled into: the received channels around the slice it keeps (see onPlan). */
interface Placed {
  readonly task: Task;
  readonly input: Float32Array;
}

/** Received bytes between two scavenges (see scavengeEvery): eight 256 KB packets. */
const SCAVENGE_EVERY_BYTES = 2 << 20;

type Required = Pick<WorkerOptions, "client" | "deployment" | "workerId" | "memoryBudgetBytes" | "gmacPerSec" | "runtime">;

export async function startWorker(options: Required & Partial<WorkerOptions>): Promise<WorkerActor> {
  const o = { ...workerDefaults, ...options } satisfies WorkerOptions;
  const { client, workerId, log } = o;
  const topics = topicsFor(o.deployment);
  const memory = await deviceMemory(`worker ${workerId}`, o.runtime, o.memoryBudgetBytes, o.baselineBytes);
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  log(`worker ${workerId}: ${mb(memory.memoryBytes)} of memory: ${mb(memory.baselineBytes)} this process before any weights, ${mb(memory.budgetBytes)} for weights and activations`);
  const fetchShard = brokerShardFetcher(client, topics, { deviceId: workerId, timeoutMs: o.shardTimeoutMs });
  const startedAt = new Date().toISOString();
  const presence = (readyPlanId?: string) =>
    announce(client, topics, {
      workerId, memoryBudgetBytes: o.memoryBudgetBytes, baselineBytes: memory.baselineBytes, gmacPerSec: o.gmacPerSec, startedAt, version: VERSION, role: "worker",
      ...(readyPlanId ? { readyPlanId, weightBytes: current?.executor.weightBytes ?? 0 } : {}),
    });
  let current: Current | undefined;
  let stopped = false;
  const where = `worker ${workerId}`;
  // Plans and tasks go through one queue: no task runs while the plan changes under it.
  const enqueue = serialQueue((err) => log(`${where}: ${errorMessage(err)}`));

  // ---- a new plan: [parse, drop the old, subscribe, prepare, announce ready] ----
  const onPlan = async (payload: Buffer, topic: string) => {
    const followed = followPlan(payload, topic);
    // The same plan again is news only if preparing it failed (its planner was away, say): try again.
    if (followed?.plan.id === current?.followed.plan.id && (current === undefined || current.ready)) return;
    await dropCurrent();
    if (!followed) return void (await presence());
    const mine = tasksOf(followed.schedule, workerId);
    const executor = new TaskExecutor(followed.network, { runtime: o.runtime, fetchShard, memoryBudgetBytes: memory.budgetBytes, keptTtlMs: o.keptTtlMs });
    const tasks = new Map(mine.map((t) => [t.id, t]));
    // A task that puts a kept slice back gets its message reassembled straight into the
    // input it runs on, around the slice, instead of into a buffer it would then copy
    // from: the worker never holds both (10 + 12 MB for YOLOv2's layer-2 slice at N = 6).
    const placements = new WeakMap<Placement, Placed>();
    const place = (topic: string, totalBytes: number): Placement | undefined => {
      const parsed = topics.parse(topic);
      const task = parsed?.kind === "partIn" ? tasks.get(`${parsed.layer}/${parsed.part}`) : undefined;
      // A message of any other size is not the task's frame: it is reassembled as it is, and decodeFrame says what is wrong.
      if (!task || totalBytes !== FRAME_HEADER_BYTES + FLOAT32_BYTES * shapeSize(task.receives)) return undefined;
      const into = executor.placeInput(task);
      if (!into) return undefined;
      const pieces = [new Uint8Array(FRAME_HEADER_BYTES), ...into.pieces];
      placements.set(pieces, { task, input: into.input });
      return pieces;
    };
    const subscription = mine.length
      ? await subscribeChunked(client, mine.map((t) => topics.filters.partIn({ layer: t.layer, part: t.part })), {
          onMessage: (t, p, info) => {
            const placed = info.placement && placements.get(info.placement);
            return enqueue(() => onTask(t, p, placed));
          },
          onError: (err, t) => void enqueue(() => reportFromTopic(t, err)),
          maxMessageBytes: memory.budgetBytes,
          place,
        })
      : undefined;
    const next: Current = { followed, ready: false, tasks, executor, subscription };
    current = next;
    await executor.prepareAll(mine);
    log(`${where}: ready for plan ${followed.plan.id} (${mine.length} tasks, ${(executor.weightBytes / 1e6).toFixed(1)} MB of weights)`);
    await presence(followed.plan.id);
    next.ready = true;
  };

  const dropCurrent = async () => {
    const old = current;
    current = undefined;
    if (!old) return;
    await old.subscription?.unsubscribe();
    await old.executor.release();
  };

  // ---- a task: [locate, decode, run, publish] ----
  /** `placed`: the message was reassembled into this input, and `payload` is only its frame header. */
  const onTask = async (topic: string, payload: Buffer, placed?: Placed) => {
    const parsed = topics.parse(topic);
    // The filters fix layer and part, so only the job id can be wrong; then there is no errors topic to answer on.
    if (parsed?.kind !== "partIn") return log(`${where}: ignored a task on ${topic}: the job id is not 1-64 of [A-Za-z0-9._:-]`);
    const { jobId, layer, part } = parsed;
    try {
      const task = current?.tasks.get(`${layer}/${part}`);
      if (!current || !task) throw new WireError(topic, `no task for layer ${layer} part ${part} on ${workerId} in plan ${current?.followed.plan.id ?? "(none)"}`);
      if (placed && placed.task !== task) throw new WireError(topic, `the input arrived for the plan before ${current.followed.plan.id}`);
      const { data, ...frame } = placed ? { ...decodeFrameHeader(payload, FLOAT32_BYTES * shapeSize(task.receives), topic), data: placed.input } : decodeFrame(payload, topic);
      if (frame.jobId !== jobId || frame.layer !== layer || frame.part !== part) {
        throw new WireError(topic, `frame is for job ${frame.jobId} layer ${frame.layer} part ${frame.part}, the topic for job ${jobId} layer ${layer} part ${part}`);
      }
      if (!isShape(frame.shape, task.receives)) throw new ShapeError(`${topic}: frame shape [${frame.shape.join(", ")}] is not the task's ${shapeText(task.receives)}`);
      const { output, computeMs } = await current.executor.run(task, jobId, data, placed !== undefined);
      const out = task.output;
      await publishChunked(client, topics.partOut(jobId, layer, part), frameParts({ jobId, layer, part, shape: [out.c, out.h, out.w], computeMs }, output), {
        maxPacketBytes: o.maxPacketBytes,
        qos: JOB_TENSOR_QOS,
      });
    } catch (err) {
      current?.executor.dropJob(jobId);
      log(`${where}: job ${jobId} layer ${layer} part ${part}: ${errorMessage(err)}`);
      await reportError(client, topics, jobId, err, `${where}: job ${jobId} layer ${layer} part ${part}`);
    }
  };

  const reportFromTopic = async (topic: string, err: Error) => {
    const parsed = topics.parse(topic);
    log(`${where}: ${errorMessage(err)}`);
    if (parsed && "jobId" in parsed) await reportError(client, topics, parsed.jobId, err, where);
  };

  const scavenge = scavengeEvery(SCAVENGE_EVERY_BYTES);
  const onPacket = (_topic: string, payload: Buffer) => scavenge(payload.byteLength);
  client.on("message", onPacket);

  await presence();
  const planSubscription = await subscribeChunked(client, topics.plan(), {
    onMessage: (topic, payload) => enqueue(() => onPlan(payload, topic)),
    onError: (err) => log(`${where}: ignored a plan message: ${errorMessage(err)}`),
  });

  return {
    workerId,
    // A plan it failed to prepare (a bad shard, say) is followed but not ready.
    readyPlanId: () => (current?.ready ? current.followed.plan.id : undefined),
    weightBytes: () => current?.executor.weightBytes ?? 0,
    async stop() {
      if (stopped) return;
      stopped = true;
      await planSubscription.unsubscribe().catch(() => undefined);
      client.off("message", onPacket);
      await enqueue(dropCurrent);
      await withdraw(client, topics, workerId).catch(() => undefined);
    },
  };
}

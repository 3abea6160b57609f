/**
 * The source actor: the device that holds the input. It is one of the plan's devices
 * (it announces itself and computes its own parts), takes requests from
 * `infer/<requestId>`, runs them through the schedule one at a time — scatter, gather,
 * stitch/concat/merge — and publishes detections and a per-stage trace on
 * `results/<requestId>`, or a clear error on `errors/<requestId>`.
 *
 * A job never hangs: it fails at its deadline, when a device it waits for leaves, or
 * when a worker reports an error for it. The planner then re-plans for the devices
 * left, and the next request runs once they are all ready.
 */
import { EdgefuseError, errorMessage, InputError } from "../../core/errors.js";
import { interpret } from "../../dnn/interpret.js";
import type { Runtime } from "../../dnn/onnx/runtime.js";
import { type MqttClient, subscribeChunked, type ChunkedSubscription } from "../../broker/client.js";
import { decodeJson, decodePresence, encodeJson, errorMessageSchema, type Presence } from "../../broker/messages.js";
import { inferTopicProblem, topicsFor } from "../../broker/topics.js";
import { announce, deviceMemory, followPlan, VERSION, withdraw, type Followed } from "../runtime/device.js";
import { TaskExecutor } from "../runtime/executor.js";
import { brokerShardFetcher } from "../runtime/fetch-shard.js";
import { prepareSource, releaseSource, runSchedule, type SourcePrepared } from "../runtime/job.js";
import { reportError, serialQueue } from "../runtime/report.js";
import { tasksOf } from "../runtime/schedule.js";
import { MqttDispatcher } from "./dispatch.js";
import { availability } from "./availability.js";
import { startDiscovery } from "./home-assistant.js";
import { readRequest } from "./input.js";
import { lastResultPublisher } from "./last-result.js";
import { resultsSchema } from "./schemas.js";
import { DEFAULT_MAX_PACKET_BYTES } from "../../broker/client.js";
import { REGION_DEFAULTS } from "../../dnn/detect/region.js";

export interface SourceOptions {
  readonly client: MqttClient;
  readonly deployment: string;
  /** Its id among the plan's devices. */
  readonly sourceId: string;
  /** The device's whole memory for edgefuse (`--memory`): this process, its weights and activations. */
  readonly memoryBudgetBytes: number;
  /** What the process holds before any shard; measured when not given (deviceMemory). */
  readonly baselineBytes?: number;
  readonly gmacPerSec: number;
  readonly runtime: Runtime;
  /** Detection threshold (darknet's default, REGION_DEFAULTS). */
  readonly thresh: number;
  /** A job that has not finished after this long fails. */
  readonly jobTimeoutMs: number;
  /** How long a request waits for a plan whose devices are all ready. */
  readonly planWaitMs: number;
  readonly maxPacketBytes: number;
  readonly shardTimeoutMs: number;
  readonly log: (line: string) => void;
  /** Sees every finished job's final tensor (tests compare it with a single-device run; tools can record it). */
  readonly onOutput?: (requestId: string, output: Float32Array, planId: string) => void;
  /**
   * The connection that carries the deployment's availability on `status`, connected with
   * statusWill(topics) (availability.ts). Without one, no status is published.
   */
  readonly status?: MqttClient;
  /** Home Assistant discovery under this prefix (home-assistant.ts); needs `status`, the entities' availability. */
  readonly homeAssistantPrefix?: string;
  /** Publish each result's annotated image on `annotated` (always with Home Assistant discovery). */
  readonly publishAnnotated?: boolean;
}
export const sourceDefaults = {
  thresh: REGION_DEFAULTS.thresh,
  jobTimeoutMs: 30_000,
  planWaitMs: 60_000,
  maxPacketBytes: DEFAULT_MAX_PACKET_BYTES,
  shardTimeoutMs: 30_000,
  log: (line: string) => console.error(line),
} satisfies Partial<SourceOptions>;

export { resultsSchema };

export interface SourceActor {
  readonly sourceId: string;
  /** The plan it is prepared for, if any. */
  readyPlanId(): string | undefined;
  /** Resolves when a plan is prepared and every one of its devices says it is ready. */
  ready(timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

interface Current {
  readonly followed: Followed;
  readonly executor: TaskExecutor;
  readonly prepared: SourcePrepared;
}

type Required = Pick<SourceOptions, "client" | "deployment" | "sourceId" | "memoryBudgetBytes" | "gmacPerSec" | "runtime">;

export async function startSource(options: Required & Partial<SourceOptions>): Promise<SourceActor> {
  const o = { ...sourceDefaults, ...options } satisfies SourceOptions;
  const { client, sourceId, log } = o;
  const topics = topicsFor(o.deployment);
  const where = `source ${sourceId}`;
  const ha = o.homeAssistantPrefix;
  if (ha !== undefined && !o.status) throw new EdgefuseError("usage", `${where}: Home Assistant discovery needs the status connection (its entities' availability)`);
  const status = o.status && availability(o.status, topics, (line) => log(`${where}: ${line}`));
  const publishLast = lastResultPublisher(client, topics, { latest: ha !== undefined, annotated: ha !== undefined || o.publishAnnotated === true, maxPacketBytes: o.maxPacketBytes, log: (line) => log(`${where}: ${line}`) });
  /** Set once the infer subscription is up: only then is the deployment online. */
  let accepting = false;
  const memory = await deviceMemory(where, o.runtime, o.memoryBudgetBytes, o.baselineBytes);
  const fetchShard = brokerShardFetcher(client, topics, { deviceId: sourceId, timeoutMs: o.shardTimeoutMs });
  const startedAt = new Date().toISOString();
  const presence = (readyPlanId?: string) =>
    announce(client, topics, { workerId: sourceId, memoryBudgetBytes: o.memoryBudgetBytes, baselineBytes: memory.baselineBytes, gmacPerSec: o.gmacPerSec, startedAt, version: VERSION, role: "source", ...(readyPlanId ? { readyPlanId } : {}) });

  const roster = new Map<string, Presence>();
  let current: Current | undefined;
  let running: { jobId: string; done: Promise<void>; reportedByWorker: boolean } | undefined;
  let readyWaiters: (() => void)[] = [];
  const dispatcher = new MqttDispatcher(client, topics, sourceId, () => current!.executor, o.maxPacketBytes);

  /** Why the current plan cannot run yet, or null when every device is ready. */
  const notReady = (): string | null => {
    if (!current) return "no plan yet (is the planner running, and are enough devices up?)";
    const { plan } = current.followed;
    const missing = plan.devices.filter((d) => d.workerId !== sourceId && roster.get(d.workerId)?.readyPlanId !== plan.id).map((d) => d.workerId);
    return missing.length ? `plan ${plan.id}: waiting for ${missing.join(", ")} to be ready` : null;
  };
  const checkReady = () => {
    if (notReady() !== null) return;
    if (accepting) status?.online().catch((err: unknown) => log(`${where}: could not publish online: ${errorMessage(err)}`));
    const waiters = readyWaiters;
    readyWaiters = [];
    waiters.forEach((w) => w());
  };
  const ready = (timeoutMs = o.planWaitMs) =>
    new Promise<string>((resolve, reject) => {
      if (notReady() === null) return resolve(current!.followed.plan.id);
      const timer = setTimeout(() => {
        readyWaiters = readyWaiters.filter((w) => w !== done);
        reject(new EdgefuseError("not-ready", `no plan ready within ${timeoutMs} ms: ${notReady()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(current!.followed.plan.id);
      };
      readyWaiters.push(done);
    });

  // ---- plans: [parse, let the running job end, drop the old, prepare the new, announce ready] ----
  const planQueue = serialQueue((err) => log(`${where}: ignored a plan: ${errorMessage(err)}`));
  const onPlan = async (payload: Buffer, topic: string) => {
    const followed = followPlan(payload, topic);
    if (followed?.plan.id === current?.followed.plan.id) return;
    if (followed && !followed.plan.devices.some((d) => d.workerId === sourceId)) {
      log(`${where}: plan ${followed.plan.id} does not include this device; waiting for one that does`);
    }
    await running?.done;
    const old = current;
    current = undefined;
    if (old) {
      await releaseSource(old.prepared);
      await old.executor.release();
    }
    if (!followed || !followed.plan.devices.some((d) => d.workerId === sourceId)) return void (await presence());
    const executor = new TaskExecutor(followed.network, { runtime: o.runtime, fetchShard, memoryBudgetBytes: memory.budgetBytes, keptTtlMs: o.jobTimeoutMs * 2 });
    await executor.prepareAll(tasksOf(followed.schedule, sourceId));
    const prepared = await prepareSource(followed.network, followed.schedule, o.runtime, fetchShard);
    current = { followed, executor, prepared };
    log(`${where}: ready for plan ${followed.plan.id} on ${followed.plan.devices.map((d) => d.workerId).join(", ")}`);
    await presence(followed.plan.id);
    checkReady();
  };

  // ---- presence: the roster, and failing a job whose device left ----
  const onPresence = (topic: string, payload: Buffer) => {
    const parsed = topics.parse(topic);
    if (parsed?.kind !== "worker" || parsed.workerId === sourceId) return;
    const p = decodePresence(topic, payload);
    if (p) roster.set(parsed.workerId, p);
    else roster.delete(parsed.workerId);
    if (!p && running && current?.followed.plan.devices.some((d) => d.workerId === parsed.workerId)) {
      dispatcher.fail(running.jobId, new EdgefuseError("device-left", `device ${parsed.workerId} left while job ${running.jobId} was running; the plan is being made again for the devices left`));
    }
    checkReady();
  };

  // ---- a request: [wait for a ready plan, decode, run, interpret, publish] ----
  const jobQueue = serialQueue((err) => log(`${where}: ${errorMessage(err)}`));
  const onInfer = (topic: string, payload: Buffer) => {
    const parsed = topics.parse(topic);
    // With no valid request id there is no errors topic to answer on: the log says what is wrong.
    if (parsed?.kind !== "infer") return void log(`${where}: ignored a request on ${topic}: ${inferTopicProblem(o.deployment, topic) ?? "not an infer/<requestId> topic"}`);
    void jobQueue(() => runJob(parsed.requestId, topic, payload));
  };
  const runJob = async (requestId: string, topic: string, payload: Buffer) => {
    const received = performance.now();
    const job = { jobId: requestId, done: Promise.resolve(), reportedByWorker: false };
    let finish = () => {};
    try {
      if (payload.byteLength === 0) throw new InputError(topic, "empty request: send JPEG or PNG bytes, or a tensor frame");
      // Re-check after waking: a plan change may have started in between.
      while (notReady() !== null) await ready();
      const { prepared, followed } = current!;
      job.done = new Promise<void>((r) => (finish = r));
      running = job;
      const input = readRequest(payload, topic, prepared.network);
      const preprocessMs = performance.now() - received;
      const deadline = setTimeout(() => dispatcher.fail(requestId, new EdgefuseError("timeout", `job ${requestId} did not finish within ${o.jobTimeoutMs} ms; waiting for ${dispatcher.waitingOn(requestId).join(", ") || "nothing"}`)), o.jobTimeoutMs);
      let result;
      try {
        result = await runSchedule(prepared, dispatcher, requestId, input.tensor);
      } finally {
        clearTimeout(deadline);
      }
      o.onOutput?.(requestId, result.output, followed.plan.id);
      const post = performance.now();
      const image = input.image && { w: input.image.w, h: input.image.h };
      const interpretation = interpret(followed.network, result.output, image, { thresh: o.thresh });
      const { detections } = interpretation;
      const totalMs = performance.now() - received;
      // A tensor request's boxes are in the tensor's pixels (interpret), so its size stands in for the image's.
      const size = image ?? followed.network.input;
      const message = {
        requestId,
        planId: followed.plan.id,
        timestamp: new Date().toISOString(),
        image: { width: size.w, height: size.h },
        detections,
        timings: { totalMs, preprocessMs, postprocessMs: performance.now() - post },
        trace: result.trace,
      };
      await client.publishAsync(topics.results(requestId), encodeJson(resultsSchema, message), { qos: 1 });
      log(`${where}: ${requestId}: ${detections.length} detections in ${totalMs.toFixed(0)} ms (plan ${followed.plan.id})`);
      await publishLast(message, interpretation, input.image);
    } catch (err) {
      log(`${where}: ${requestId}: ${errorMessage(err)}`);
      if (!job.reportedByWorker) await reportError(client, topics, requestId, err, `${where}: request ${requestId}`);
    } finally {
      dispatcher.end(requestId);
      current?.executor.dropJob(requestId);
      if (running === job) running = undefined;
      finish();
    }
  };

  // ---- outputs and worker errors for the running job ----
  const onOutput = (topic: string, payload: Buffer) => {
    try {
      dispatcher.deliver(topic, payload);
    } catch (err) {
      const parsed = topics.parse(topic);
      const jobId = parsed && "jobId" in parsed ? parsed.jobId : undefined;
      log(`${where}: bad output on ${topic}: ${errorMessage(err)}`);
      if (jobId && running?.jobId === jobId) dispatcher.fail(jobId, err as Error);
    }
  };
  const onError = (topic: string, payload: Buffer) => {
    // Checked whether or not a job runs: a malformed report is logged either way.
    const report = decodeJson(topic, payload, errorMessageSchema);
    if (!running) return;
    if (report.requestId !== running.jobId || report.where.startsWith(where)) return;
    running.reportedByWorker = true;
    dispatcher.fail(running.jobId, new EdgefuseError(report.code, `${report.where}: ${report.message}`));
  };

  const subscriptions: ChunkedSubscription[] = [];
  const logIgnored = (what: string) => (err: Error, topic: string) => log(`${where}: ignored ${what} on ${topic}: ${errorMessage(err)}`);
  subscriptions.push(await subscribeChunked(client, topics.filters.worker(), { onMessage: onPresence, onError: logIgnored("a presence") }));
  subscriptions.push(await subscribeChunked(client, topics.filters.partOut(), { onMessage: onOutput, onError: logIgnored("an output") }));
  subscriptions.push(await subscribeChunked(client, topics.filters.errors(), { onMessage: onError, onError: logIgnored("an error report") }));
  await presence();
  subscriptions.push(await subscribeChunked(client, topics.plan(), { onMessage: (t, p) => planQueue(() => onPlan(p, t)), onError: logIgnored("a plan") }));
  subscriptions.push(
    await subscribeChunked(client, topics.filters.requests, {
      onMessage: onInfer,
      onError: (err, topic) => {
        const parsed = topics.parse(topic);
        log(`${where}: bad request on ${topic}: ${errorMessage(err)}`);
        if (parsed?.kind === "infer") void reportError(client, topics, parsed.requestId, err, `${where}: request ${parsed.requestId}`);
      },
    }),
  );
  const discovery = ha === undefined ? undefined : await startDiscovery(client, { prefix: ha, deployment: o.deployment, topics, version: VERSION }, (line) => log(`${where}: ${line}`));
  accepting = true;
  checkReady();

  return {
    sourceId,
    readyPlanId: () => current?.followed.plan.id,
    ready,
    async stop() {
      await status?.offline().catch(() => undefined);
      await discovery?.stop();
      for (const s of subscriptions.reverse()) await s.unsubscribe().catch(() => undefined);
      await running?.done;
      await planQueue(async () => {
        if (current) {
          await releaseSource(current.prepared);
          await current.executor.release();
          current = undefined;
        }
      });
      await withdraw(client, topics, sourceId).catch(() => undefined);
    },
  };
}

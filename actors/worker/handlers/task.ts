/**
 * The worker's task inputs: a task's input tensor arrives on its partIn topic, or, for
 * a tensor every part of a stage takes whole (LOP, FUSE without a kept slice) and for
 * the request's encoded image to FTP tile devices, once per job on the layer's layerIn
 * topic, which every device of the stage reads (one publish, not one per device: a
 * broker on a host of its own takes it once over the source's link). Each is checked
 * against the task, runs, and its output goes out on partOut. A bad input is reported
 * on `errors/<jobId>` and dropped; the worker carries on.
 */
import { errorMessage, ShapeError, WireError } from "../../../core/errors.js";
import { FLOAT32_BYTES } from "../../../core/dtypes.js";
import { shapeSize, shapeText } from "../../../dnn/layers.js";
import type { Placement } from "../../../broker/chunking.js";
import type { ChunkedSubscription } from "../../../broker/client.js";
import { decodeInto } from "../../../broker/codecs.js";
import {
  decodeFrame,
  decodeFrameHeader,
  FRAME_HEADER_BYTES,
  framePartsOrFloat32,
  isFrame,
} from "../../../broker/frame.js";
import { tilesFromImage } from "../../runtime/image-input.js";
import { takesLayerInput, type Task } from "../../runtime/schedule.js";
import { JOB_TENSOR_QOS } from "../../../broker/topics.js";
import { reportError } from "../../runtime/report.js";
import { isShape } from "../../runtime/tensors.js";
import type { Placed, WorkerPlan, WorkerState } from "../state.js";

/**
 * Subscribes to the partIn topics of `plan`'s tasks. A task that puts a kept slice back
 * gets its message reassembled straight into the input it runs on, around the slice,
 * instead of into a buffer it would then copy from: the worker never holds both
 * (10 + 12 MB for YOLOv2's layer-2 slice at N = 6).
 */
export function subscribeTasks(state: WorkerState, plan: WorkerPlan): Promise<ChunkedSubscription> {
  const { topics } = state;
  const place = (topic: string, totalBytes: number): Placement | undefined => {
    const parsed = topics.parse(topic);
    const task = parsed?.kind === "partIn" ? plan.tasks.get(`${parsed.layer}/${parsed.part}`) : undefined;
    // A message of any other size is not the task's frame: it is reassembled as it is, and decodeFrame says what is wrong.
    if (!task || totalBytes !== FRAME_HEADER_BYTES + FLOAT32_BYTES * shapeSize(task.receives)) return undefined;
    const into = plan.executor.placeInput(task);
    if (!into) return undefined;
    const pieces = [new Uint8Array(FRAME_HEADER_BYTES), ...into.pieces];
    plan.placements.set(pieces, { task, input: into.input });
    return pieces;
  };
  const tasks = [...plan.tasks.values()];
  const layers = new Set(tasks.filter(takesLayerInput).map((t) => t.layer));
  const filters = [
    ...tasks.map((t) => topics.filters.partIn({ layer: t.layer, part: t.part })),
    ...[...layers].map((layer) => topics.filters.layerIn({ layer })),
  ];
  return state.bus.subscribe(filters, {
    onMessage: (topic, payload, info) => {
      if (topics.parse(topic)?.kind === "layerIn") return state.enqueue(() => handleLayerInput(state, topic, payload));
      const placed = info.placement && plan.placements.get(info.placement);
      return state.enqueue(() => handleTask(state, topic, payload, placed));
    },
    onError: (err, topic) => void state.enqueue(() => reportFromTopic(state, topic, err)),
    maxMessageBytes: state.memory.budgetBytes,
    place,
  });
}

/**
 * A task's input: [locate, decode, run, publish]. `placed`: the message was
 * reassembled into this input, and `payload` is only its frame header.
 */
export async function handleTask(state: WorkerState, topic: string, payload: Buffer, placed?: Placed): Promise<void> {
  const { topics, where, workerId } = state;
  const parsed = topics.parse(topic);
  // The filters fix layer and part, so only the job id can be wrong; then there is no errors topic to answer on.
  if (parsed?.kind !== "partIn")
    return state.log(`${where}: ignored a task on ${topic}: the job id is not 1-64 of [A-Za-z0-9._:-]`);
  const { jobId, layer, part } = parsed;
  const plan = state.plan;
  try {
    const task = plan?.tasks.get(`${layer}/${part}`);
    if (!plan || !task)
      throw new WireError(
        topic,
        `no task for layer ${layer} part ${part} on ${workerId} in plan ${plan?.followed.plan.id ?? "(none)"}`,
      );
    if (placed && placed.task !== task)
      throw new WireError(topic, `the input arrived for the plan before ${plan.followed.plan.id}`);
    const { data, whole } = readInput(plan, task, { topic, jobId, layer, part }, payload, placed);
    await runAndPublish(state, plan, task, jobId, data, whole);
  } catch (err) {
    await failTask(state, jobId, `layer ${layer} part ${part}`, err);
  }
}

/**
 * A layer's input for every task of this device that takes it (layerIn): a frame of the
 * whole tensor, or the request's encoded image, decoded and letterboxed once and cut
 * into each tile.
 */
export async function handleLayerInput(state: WorkerState, topic: string, payload: Buffer): Promise<void> {
  const { topics, where, workerId } = state;
  const parsed = topics.parse(topic);
  if (parsed?.kind !== "layerIn")
    return state.log(`${where}: ignored a layer input on ${topic}: the job id is not 1-64 of [A-Za-z0-9._:-]`);
  const { jobId, layer } = parsed;
  const plan = state.plan;
  try {
    const tasks = plan ? [...plan.tasks.values()].filter((t) => t.layer === layer && takesLayerInput(t)) : [];
    if (!plan || tasks.length === 0)
      throw new WireError(
        topic,
        `no task takes layer ${layer}'s input on ${workerId} in plan ${plan?.followed.plan.id ?? "(none)"}`,
      );
    for (const [task, data] of layerInputs(plan, tasks, topic, jobId, payload))
      await runAndPublish(state, plan, task, jobId, data, false);
  } catch (err) {
    await failTask(state, jobId, `layer ${layer}`, err);
  }
}

/** Each task's input from one layerIn message, checked against the tasks. */
function layerInputs(
  plan: WorkerPlan,
  tasks: readonly Task[],
  topic: string,
  jobId: string,
  payload: Buffer,
): [Task, Float32Array][] {
  if (!isFrame(payload)) {
    const tiles = tasks.flatMap((t) => (t.wire.image && t.send.kind === "region" ? [{ t, rect: t.send.rect }] : []));
    if (tiles.length === 0) throw new WireError(topic, "not a tensor frame, and no task here takes the image");
    const cut = tilesFromImage(
      payload,
      topic,
      plan.followed.network.input,
      tiles.map((x) => x.rect),
    );
    return tiles.map((x, i) => [x.t, cut[i]!]);
  }
  const frame = decodeFrame(payload, topic);
  if (frame.jobId !== jobId) throw new WireError(topic, `frame is for job ${frame.jobId}, the topic for job ${jobId}`);
  const whole = tasks.filter((t) => t.send.kind === "all");
  for (const t of whole)
    if (!isShape(frame.shape, t.receives))
      throw new ShapeError(
        `${topic}: frame shape [${frame.shape.join(", ")}] is not the task's ${shapeText(t.receives)}`,
      );
  return whole.map((t) => [t, frame.data]);
}

/** Runs a task on its input and publishes its output on partOut. */
async function runAndPublish(
  state: WorkerState,
  plan: WorkerPlan,
  task: Task,
  jobId: string,
  data: Float32Array,
  whole: boolean,
): Promise<void> {
  const { output, computeMs } = await plan.executor.run(task, jobId, data, whole);
  const out = task.output;
  const { parts } = framePartsOrFloat32(
    { jobId, layer: task.layer, part: task.part, shape: [out.c, out.h, out.w], computeMs, dtype: task.wire.output },
    output,
  );
  await state.bus.publish(state.topics.partOut(jobId, task.layer, task.part), parts, { qos: JOB_TENSOR_QOS });
}

/** A task that cannot run: the job's kept tensors go, and the job hears why. */
async function failTask(state: WorkerState, jobId: string, what: string, err: unknown): Promise<void> {
  const at = `${state.where}: job ${jobId} ${what}`;
  state.plan?.executor.dropJob(jobId);
  state.log(`${at}: ${errorMessage(err)}`);
  await reportError(state.bus, state.topics, jobId, err, at, state.origin);
}

/**
 * A task's input from its partIn message, checked against the task: a frame of any
 * dtype. `whole`: `data` is the task's whole input, the slice it kept
 * already around the channels that arrived (placed by the reassembler, or decoded
 * around it here), not just what was received.
 */
function readInput(
  plan: WorkerPlan,
  task: Task,
  at: { topic: string; jobId: string; layer: number; part: number },
  payload: Buffer,
  placed: Placed | undefined,
): { data: Float32Array; whole: boolean } {
  const { topic } = at;
  const dataBytes = placed ? FLOAT32_BYTES * shapeSize(task.receives) : payload.byteLength - FRAME_HEADER_BYTES;
  const header = decodeFrameHeader(payload.subarray(0, FRAME_HEADER_BYTES), dataBytes, topic);
  if (header.jobId !== at.jobId || header.layer !== at.layer || header.part !== at.part) {
    throw new WireError(
      topic,
      `frame is for job ${header.jobId} layer ${header.layer} part ${header.part}, the topic for job ${at.jobId} layer ${at.layer} part ${at.part}`,
    );
  }
  if (!isShape(header.shape, task.receives))
    throw new ShapeError(
      `${topic}: frame shape [${header.shape.join(", ")}] is not the task's ${shapeText(task.receives)}`,
    );
  if (placed) return { data: placed.input, whole: true };
  const into = plan.executor.placeInput(task);
  const body = payload.subarray(FRAME_HEADER_BYTES);
  if (!into) return { data: decodeFrame(payload, topic).data, whole: false }; // float32: a view, no copy
  // Around the kept slice, straight into the input it runs on: no float32 copy of what arrived.
  const held = task.held!;
  const hw = task.input.h * task.input.w;
  const elements = shapeSize(task.receives);
  decodeInto(header.dtype, body, elements, { target: into.input, first: 0, count: held.c0 * hw }, topic);
  decodeInto(header.dtype, body, elements, { target: into.input, at: held.c1 * hw, first: held.c0 * hw }, topic);
  return { data: into.input, whole: true };
}

/** A message on a task topic that never became a whole input (a bad or stalled chunk): logged, and reported to its job. */
async function reportFromTopic(state: WorkerState, topic: string, err: Error): Promise<void> {
  const parsed = state.topics.parse(topic);
  state.log(`${state.where}: ${errorMessage(err)}`);
  if (parsed && "jobId" in parsed)
    await reportError(state.bus, state.topics, parsed.jobId, err, state.where, state.origin);
}

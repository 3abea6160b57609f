/**
 * `infer/<requestId>`: a request, [wait for a ready plan, decode, run, interpret,
 * publish] on `results/<requestId>`, or its failure on `errors/<requestId>`. Several
 * run at once and the rest wait (the state's admission), or are refused when too many
 * wait. A request on a malformed infer topic has no errors topic to answer on: the log
 * says what is wrong with the topic.
 */
import { encodeJson, type TraceMessage, traceMessageSchema } from "../../../broker/messages.js";
import { inferTopicProblem, TOPIC_TABLE } from "../../../broker/topics.js";
import { EdgefuseError, errorMessage, InputError } from "../../../core/errors.js";
import { interpret } from "../../../dnn/interpret.js";
import { runSchedule } from "../../runtime/job.js";
import { publishAnswer } from "../../runtime/report.js";
import { type RequestInput, readRequest } from "../input.js";
import { resultsSchema, type SourceResult } from "../schemas.js";
import type { Current, RunningJob, SourceHandler, SourceState } from "../state.js";

export const handleInfer: SourceHandler = (state, topic, payload) => {
  const parsed = state.topics.parse(topic);
  if (parsed?.kind !== "infer")
    return void state.log(
      `ignored a request on ${topic}: ${inferTopicProblem(state.options.deployment, topic) ?? "not an infer/<requestId> topic"}`,
    );
  const { requestId } = parsed;
  // Its tensors travel on topics named by its id: a second request of that id while the first runs would mix with it.
  if (state.running.has(requestId))
    return void state.reportFailure(
      requestId,
      new InputError(topic, `request ${requestId} is running already: give each request an id of its own`),
    );
  state.admission.admit(
    requestId,
    (queuedMs) => runJob(state, requestId, topic, payload, queuedMs),
    (err) => {
      state.log(`${requestId}: ${err.message}`);
      return state.reportFailure(requestId, err);
    },
  );
};

/** A request that could not be received whole (bad chunks): logged, and answered when its topic names it. */
export function handleBadRequest(state: SourceState, err: Error, topic: string): void {
  const parsed = state.topics.parse(topic);
  state.log(`bad request on ${topic}: ${errorMessage(err)}`);
  if (parsed?.kind === "infer") void state.reportFailure(parsed.requestId, err);
}

async function runJob(
  state: SourceState,
  requestId: string,
  topic: string,
  payload: Buffer,
  queuedMs: number,
): Promise<void> {
  const received = performance.now();
  const job: RunningJob = { jobId: requestId, done: Promise.resolve(), reportedByWorker: false };
  let finish = () => {};
  try {
    if (payload.byteLength === 0)
      throw new InputError(topic, "empty request: send JPEG or PNG bytes, or a tensor frame");
    // Re-check after waking: a plan change may have started in between.
    while (state.notReady() !== null) await state.ready();
    const current = state.current!;
    job.done = new Promise<void>((r) => (finish = r));
    state.running.set(requestId, job);
    await answer(state, current, { requestId, topic, payload, received, queuedMs });
  } catch (err) {
    state.log(`${requestId}: ${errorMessage(err)}`);
    if (!job.reportedByWorker) await state.reportFailure(requestId, err);
  } finally {
    state.dispatcher.end(requestId);
    state.current?.executor.dropJob(requestId);
    if (state.running.get(requestId) === job) state.running.delete(requestId);
    finish();
  }
}

interface Request {
  readonly requestId: string;
  readonly topic: string;
  readonly payload: Buffer;
  /** performance.now() when it started to run: the trace's times count from here. */
  readonly received: number;
  /** How long it waited for a slot before that. */
  readonly queuedMs: number;
}

/** Runs the request on the current plan and publishes its result, then what goes beside it. */
async function answer(state: SourceState, current: Current, request: Request): Promise<void> {
  const { requestId, topic, payload, received, queuedMs } = request;
  const { prepared, followed } = current;
  const input = await readRequest(payload, topic, prepared.network, (bytes, where, shape) =>
    state.decoder.decode(bytes, where, shape),
  );
  const preprocessMs = performance.now() - received;
  const result = await runWithDeadline(state, current, requestId, input, preprocessMs);
  state.options.onOutput?.(requestId, result.output, followed.plan.id);
  const post = performance.now();
  const image = input.image && { w: input.image.w, h: input.image.h };
  const interpretation = interpret(followed.network, result.output, image, {
    thresh: state.options.thresh,
    ...(state.options.classNames && { names: state.options.classNames }),
  });
  const { detections } = interpretation;
  const totalMs = performance.now() - received;
  // A tensor request's boxes are in the tensor's pixels (interpret), so its size stands in for the image's.
  const size = image ?? followed.network.input;
  const message: SourceResult = {
    requestId,
    planId: followed.plan.id,
    timestamp: new Date().toISOString(),
    image: { width: size.w, height: size.h },
    synthetic: followed.plan.model.syntheticWeights === true,
    detections,
    timings: { totalMs, preprocessMs, postprocessMs: performance.now() - post, queuedMs },
    trace: result.trace,
  };
  await publishAnswer(state.bus, state.topics.results(requestId), encodeJson(resultsSchema, message));
  state.log(`${requestId}: ${detections.length} detections in ${totalMs.toFixed(0)} ms (plan ${followed.plan.id})`);
  await state.publishLast(message, interpretation, input.image);
}

/** The schedule's run, failed by the dispatcher when it has not finished within the job timeout. */
async function runWithDeadline(
  state: SourceState,
  current: Current,
  requestId: string,
  input: RequestInput,
  preprocessMs: number,
) {
  const { dispatcher } = state;
  const { jobTimeoutMs } = state.options;
  const deadline = setTimeout(
    () =>
      dispatcher.fail(
        requestId,
        new EdgefuseError(
          "timeout",
          `job ${requestId} did not finish within ${jobTimeoutMs} ms; waiting for ${dispatcher.waitingOn(requestId).join(", ") || "nothing"}`,
        ),
      ),
    jobTimeoutMs,
  );
  try {
    return await runSchedule(current.prepared, dispatcher, requestId, input.tensor, input.encoded, (stage, index) =>
      publishStage(state, { requestId, index, stage, preprocessMs }),
    );
  } finally {
    clearTimeout(deadline);
  }
}

/** A stage's trace as it ends, for a viewer's timeline; not waited for, so the job never waits on a viewer. */
function publishStage(state: SourceState, message: TraceMessage): void {
  const topic = state.topics.trace(message.requestId);
  state.bus
    .publish(topic, encodeJson(traceMessageSchema, message), { qos: TOPIC_TABLE.trace.qos })
    .catch((err: unknown) => state.log(`${topic}: trace not published: ${errorMessage(err)}`));
}

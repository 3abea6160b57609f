/**
 * The source actor: the device that holds the input. It is one of the plan's devices
 * (it announces itself and computes its own parts), takes requests from
 * `infer/<requestId>`, runs them through the schedule, several at once (admission.ts) — scatter, gather,
 * stitch/concat/merge — and publishes detections and a per-stage trace on
 * `results/<requestId>`, or a clear error on `errors/<requestId>`; how busy it is goes on
 * `load` (load.ts).
 *
 * A job never hangs: it fails at its deadline, when a device it waits for leaves, or
 * when a worker reports an error for it. The planner then re-plans for the devices
 * left, and the next request runs once they are all ready.
 *
 * This file only wires it up: the state is one object (state.ts), and each topic kind
 * the source reads has a handler of its own (handlers/).
 */
import type { ReassemblerOptions } from "../../broker/chunking.js";
import type { ChunkedSubscription } from "../../broker/client.js";
import { errorMessage, InputError } from "../../core/errors.js";
import { VERSION, withdraw } from "../runtime/device.js";
import { handleErrorReport } from "./handlers/error.js";
import { handleBadRequest, handleInfer } from "./handlers/infer.js";
import { handleOutput } from "./handlers/output.js";
import { handlePlan } from "./handlers/plan.js";
import { handlePresence } from "./handlers/presence.js";
import { type Discovery, startDiscovery } from "./home-assistant.js";
import { type RequiredSourceOptions, sourceDefaults, type SourceOptions } from "./options.js";
import { resultsSchema } from "./schemas.js";
import { type SourceHandler, SourceState } from "./state.js";

export { resultsSchema, sourceDefaults, type SourceOptions };

export interface SourceActor {
  readonly sourceId: string;
  /** The plan it is prepared for, if any. */
  readyPlanId(): string | undefined;
  /** Resolves when a plan is prepared and every one of its devices says it is ready. */
  ready(timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startSource(options: RequiredSourceOptions & Partial<SourceOptions>): Promise<SourceActor> {
  const state = await SourceState.create({ ...sourceDefaults, ...options });
  const { bus, topics } = state;
  const subscriptions: ChunkedSubscription[] = [];
  const follow = async (
    filter: string,
    what: string,
    handler: SourceHandler,
    onError?: (err: Error, topic: string) => void,
    limits?: Partial<ReassemblerOptions>,
  ) => {
    const logIgnored = (err: Error, topic: string) => state.log(`ignored ${what} on ${topic}: ${errorMessage(err)}`);
    subscriptions.push(
      await bus.subscribe(filter, {
        onMessage: (topic, payload) => handler(state, topic, payload),
        onError: onError ?? logIgnored,
        ...limits,
      }),
    );
  };
  // What a job needs to end is heard before the source says it is here. Outputs and plans
  // are reassembled within the device's memory budget, never more.
  const withinBudget = { maxMessageBytes: state.memory.budgetBytes };
  await follow(topics.filters.worker(), "a presence", handlePresence);
  await follow(topics.filters.partOut(), "an output", handleOutput, undefined, withinBudget);
  await follow(topics.filters.errors(), "an error report", handleErrorReport);
  await state.announce();
  await follow(topics.plan(), "a plan", handlePlan, undefined, withinBudget);
  // A request larger than maxRequestBytes is refused at its first chunk, before anything
  // is buffered; the ones being received at once hold at most four of the largest (a fifth
  // is refused, and told so). One sent whole has been received already (the broker's packet
  // limit bounds it): it is refused before it is queued or decoded.
  const { maxRequestBytes } = state.options;
  const handleRequest: SourceHandler = (s, topic, payload) =>
    payload.byteLength > maxRequestBytes
      ? handleBadRequest(
          s,
          new InputError(topic, `request of ${payload.byteLength} bytes exceeds maxRequestBytes ${maxRequestBytes}`),
          topic,
        )
      : handleInfer(s, topic, payload);
  await follow(
    topics.filters.requests,
    "a request",
    handleRequest,
    (err, topic) => handleBadRequest(state, err, topic),
    {
      maxMessageBytes: maxRequestBytes,
      maxPendingBytes: 4 * maxRequestBytes,
    },
  );
  const ha = state.options.homeAssistantPrefix;
  const discovery =
    ha === undefined
      ? undefined
      : await startDiscovery(
          bus,
          { prefix: ha, deployment: state.options.deployment, topics, version: VERSION },
          (line) => state.log(line),
        );
  // Online as soon as it takes requests: one that arrives before the plan's devices are
  // ready waits for them (planWaitMs), so a client need not know whether they are.
  await state.sayOnline();
  state.checkReady(); // and the first load: nothing running, the limits

  return {
    sourceId: state.sourceId,
    readyPlanId: () => state.current?.followed.plan.id,
    ready: (timeoutMs) => state.ready(timeoutMs),
    stop: () => stopSource(state, subscriptions, discovery),
  };
}

/** A graceful stop: offline, no more messages, the waiting requests refused, the running ones end, the plan is let go, the presence cleared. */
async function stopSource(
  state: SourceState,
  subscriptions: ChunkedSubscription[],
  discovery: Discovery | undefined,
): Promise<void> {
  state.stopFollowingReconnects();
  await state.status?.offline().catch(() => undefined);
  await discovery?.stop();
  for (const s of subscriptions.reverse()) await s.unsubscribe().catch(() => undefined);
  await state.admission.close(`${state.where} is stopping: the request was not run`);
  await state.load?.clear().catch(() => undefined);
  await state.planQueue(() => state.releaseCurrent());
  await state.decoder.close();
  await withdraw(state.bus, state.topics, state.sourceId).catch(() => undefined);
}

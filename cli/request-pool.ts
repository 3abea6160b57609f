/**
 * Many requests through a running deployment on one connection, a few in flight: each
 * is published on infer/<id> once its answer topics are subscribed, and its answer is
 * what comes back on results/<id> or errors/<id>. `edgefuse eval` scores a test set
 * this way; the tests push hundreds of images through a system with it.
 */
import type { Bus } from "../broker/bus.js";
import { decodeJson, errorMessageSchema } from "../broker/messages.js";
import type { Topics } from "../broker/topics.js";
import { resultsSchema, type SourceResult } from "../actors/source/schemas.js";

export type PoolAnswer =
  | { readonly ok: true; readonly result: SourceResult }
  | { readonly ok: false; readonly error: string };

export interface PoolOptions {
  /** Requests published and not yet answered, at most. */
  readonly inFlight: number;
  /** A request not answered within this long fails on its own. */
  readonly timeoutMs: number;
  /** Request ids are `<idPrefix>-<index>`. */
  readonly idPrefix: string;
}

/** One request: resolves with its answer (a failure is an answer too) once it is in. */
async function requestOne(
  bus: Bus,
  topics: Topics,
  requestId: string,
  payload: Uint8Array,
  timeoutMs: number,
): Promise<PoolAnswer> {
  let answered!: (answer: PoolAnswer) => void;
  const answer = new Promise<PoolAnswer>((resolve) => (answered = resolve));
  const read = (topic: string, body: Buffer): PoolAnswer => {
    try {
      if (topic === topics.results(requestId)) return { ok: true, result: decodeJson(topic, body, resultsSchema) };
      const e = decodeJson(topic, body, errorMessageSchema);
      return { ok: false, error: `${e.code}: ${e.where}: ${e.message}` };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  };
  const subscription = await bus.subscribe([topics.results(requestId), topics.errors(requestId)], {
    onMessage: (topic, body) => answered(read(topic, body)),
    onError: (err, topic) => answered({ ok: false, error: `a broken message on ${topic}: ${err.message}` }),
  });
  const timer = setTimeout(
    () => answered({ ok: false, error: `no answer on ${topics.results(requestId)} within ${timeoutMs} ms` }),
    timeoutMs,
  );
  try {
    await bus.publish(topics.infer(requestId), payload);
    return await answer;
  } finally {
    clearTimeout(timer);
    await subscription.unsubscribe();
  }
}

/**
 * Sends `count` requests, `payloadOf(i)` the i-th, `options.inFlight` at a time, and
 * calls `onAnswer(i, answer)` as each comes back (in the order they come back). When
 * onAnswer throws, nothing more is sent and the error is this function's.
 */
export async function requestEach(
  bus: Bus,
  topics: Topics,
  count: number,
  payloadOf: (index: number) => Uint8Array,
  options: PoolOptions,
  onAnswer: (index: number, answer: PoolAnswer) => void,
): Promise<void> {
  let next = 0;
  let stopped = false; // onAnswer threw: send nothing more
  const lane = async () => {
    while (next < count && !stopped) {
      const i = next++;
      const answer = await requestOne(bus, topics, `${options.idPrefix}-${i}`, payloadOf(i), options.timeoutMs);
      try {
        onAnswer(i, answer);
      } catch (err) {
        stopped = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.inFlight, count) }, lane));
}

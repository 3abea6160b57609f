/** Reporting a failure on `errors/<requestId>`: the one place actors turn errors into messages. */
import { EdgefuseError, errorMessage } from "../../core/errors.js";
import type { Bus } from "../../broker/bus.js";
import { type ErrorOrigin, encodeJson, errorMessageSchema } from "../../broker/messages.js";
import { ID_PATTERN, type Topics } from "../../broker/topics.js";

/**
 * How long after the source's connection comes back it still holds an answer: mqtt.js
 * clients (ours included) retry every second, so a requester the broker's restart cut
 * off too has reconnected and subscribed again by then. A requester keeps no session on
 * a broker that restarted without persistence, so an answer published before it is
 * subscribed again is dropped without a word; sent at once, as mqtt.js sends what
 * waited offline, it would be (edgefuse chaos --seed 2 lost one that way).
 */
export const ANSWER_SETTLE_MS = 3_000;

/**
 * The source's answer to a request (results/<id>, errors/<id>): published at once on a
 * steady connection, and held while the broker is away and for ANSWER_SETTLE_MS after
 * it is back, so that a request that ended during an outage still gets its one answer.
 * Rejects when the connection is closed first (the source stopping).
 */
export async function publishAnswer(bus: Bus, topic: string, payload: Buffer): Promise<void> {
  await bus.whenSteady(ANSWER_SETTLE_MS);
  await bus.publish(topic, payload, { qos: 1 });
}

/**
 * `from` names the reporting device, so readers decide by it rather than by the text of
 * `where`. The source's report is its answer to the request, held as publishAnswer holds
 * it; a worker's is dropped while its connection is down (the source answers for the job
 * by its deadline, and a second answer held for later would be one too many).
 */
export async function reportError(
  bus: Bus,
  topics: Topics,
  requestId: string,
  err: unknown,
  where: string,
  from?: ErrorOrigin,
): Promise<void> {
  const answer = from?.role === "source";
  if (!ID_PATTERN.test(requestId) || (!answer && !bus.connected)) return;
  const code = err instanceof EdgefuseError ? err.code : "internal";
  const message = encodeJson(errorMessageSchema, {
    requestId,
    code,
    message: errorMessage(err),
    where,
    ...(from && { from }),
  });
  const topic = topics.errors(requestId);
  await (answer ? publishAnswer(bus, topic, message) : bus.publish(topic, message, { qos: 1 })).catch(() => undefined);
}

/** Runs async work one item at a time, in arrival order; a failure never stops the queue. */
export function serialQueue(onError: (err: unknown) => void): (work: () => Promise<void>) => Promise<void> {
  let tail: Promise<void> = Promise.resolve();
  return (work) => {
    const next = tail.then(work).catch(onError);
    tail = next;
    return next;
  };
}

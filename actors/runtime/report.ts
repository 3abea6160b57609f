/** Reporting a failure on `errors/<requestId>`: the one place actors turn errors into messages. */
import { EdgefuseError, errorMessage } from "../../core/errors.js";
import type { Bus } from "../../broker/bus.js";
import { type ErrorOrigin, encodeJson, errorMessageSchema } from "../../broker/messages.js";
import { ID_PATTERN, type Topics } from "../../broker/topics.js";

/** `from` names the reporting device, so readers decide by it rather than by the text of `where`. */
export async function reportError(
  bus: Bus,
  topics: Topics,
  requestId: string,
  err: unknown,
  where: string,
  from?: ErrorOrigin,
): Promise<void> {
  if (!ID_PATTERN.test(requestId) || !bus.connected) return;
  const code = err instanceof EdgefuseError ? err.code : "internal";
  const message = encodeJson(errorMessageSchema, {
    requestId,
    code,
    message: errorMessage(err),
    where,
    ...(from && { from }),
  });
  await bus.publish(topics.errors(requestId), message, { qos: 1 }).catch(() => undefined);
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

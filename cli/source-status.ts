/**
 * Is a deployment's source there to answer? It keeps a retained `status` (online once it
 * takes requests, offline when it stops or its link drops: actors/source/availability.ts),
 * so a client can tell at once instead of waiting out a request's whole deadline.
 */
import { EdgefuseError } from "../core/errors.js";
import type { Bus } from "../broker/bus.js";
import { STATUS, statusSchema, type Status } from "../broker/messages.js";
import type { Topics } from "../broker/topics.js";

/**
 * How long to wait for the status after subscribing. A broker sends a retained message
 * right after the subscription's acknowledgement; the slack covers a source that has
 * just become ready and whose `online` is still on its way.
 */
export const STATUS_GRACE_MS = 1500;

const START_HINT = "start `edgefuse up`, or `edgefuse source` beside the workers";

export interface SourceWatch {
  /** Stops watching. */
  stop(): Promise<void>;
}

/**
 * Resolves once the source is online; rejects with a one-line EdgefuseError when the
 * status says offline or says nothing within `graceMs`. Afterwards `onGone` hears of
 * the source going offline.
 */
export async function watchSource(
  bus: Bus,
  topics: Topics,
  deployment: string,
  onGone: (err: EdgefuseError) => void,
  graceMs = STATUS_GRACE_MS,
): Promise<SourceWatch> {
  const topic = topics.status();
  let settle: ((status: Status | undefined) => void) | undefined;
  const first = new Promise<Status | undefined>((resolve) => (settle = resolve));
  let online = false;
  const subscription = await bus.subscribe(topic, {
    onMessage: (_topic, payload) => {
      const parsed = statusSchema.safeParse(payload.toString("utf8"));
      const status = parsed.success ? parsed.data : undefined; // a cleared or foreign payload says nothing
      if (settle) {
        if (status === undefined) return;
        settle(status);
        settle = undefined;
      } else if (online && status === STATUS.offline) {
        online = false;
        onGone(new EdgefuseError("no-source", `the source of deployment '${deployment}' went offline (${topic})`));
      }
    },
    onError: () => undefined, // a malformed chunk is no status: the grace runs out as with none
  });
  const timer = setTimeout(() => settle?.(undefined), graceMs);
  const status = await first;
  clearTimeout(timer);
  settle = undefined;
  if (status !== STATUS.online) {
    await subscription.unsubscribe();
    throw new EdgefuseError(
      "no-source",
      status === STATUS.offline
        ? `the source of deployment '${deployment}' is offline (${topic}); ${START_HINT}`
        : `no source on deployment '${deployment}': nothing on ${topic} within ${graceMs} ms; ${START_HINT}`,
    );
  }
  online = true;
  return { stop: () => subscription.unsubscribe() };
}

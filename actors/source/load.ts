/**
 * The source's load on `load` (retained JSON, broker/messages.ts loadSchema): requests
 * running and waiting, the limits and the policy, and how many were refused and dropped
 * so far, for a camera's progress line, a dashboard or a load generator. `status` says
 * whether the deployment is there; this says how busy it is.
 *
 * Sent when the numbers change, not per request: at most once per interval, and the
 * latest numbers always last (a change inside the interval goes out at its end), so a
 * burst of 100 frames costs a few messages and the topic ends on the true state. It has
 * a connection of its own, whose last will clears it (an empty retained message): MQTT
 * gives a connection one will, and the source's other two clear its presence and say
 * offline (availability.ts).
 */
import type { Bus } from "../../broker/bus.js";
import { encodeJson, loadSchema } from "../../broker/messages.js";
import type { Topics } from "../../broker/topics.js";
import { errorMessage } from "../../core/errors.js";
import type { AdmissionLoad } from "./admission.js";

/** A few times a second: enough for a progress line, little beside a stream's tensors. */
export const LOAD_INTERVAL_MS = 250;

/** The last will to connect the load connection with: the retained load cleared. */
export const loadWill = (topics: Topics) => ({
  topic: topics.load(),
  payload: Buffer.alloc(0),
  retain: true,
  qos: 1 as const,
});

export interface LoadPublisher {
  /** The numbers may have changed: sent at the end of the interval (at once when it has passed), if they did. */
  changed(): void;
  /** A graceful stop: nothing more is sent and the retained load is cleared, as the will would. */
  clear(): Promise<void>;
}

export function loadPublisher(
  bus: Bus,
  topics: Topics,
  read: () => AdmissionLoad,
  log: (line: string) => void,
  intervalMs = LOAD_INTERVAL_MS,
): LoadPublisher {
  let lastSentAt = Number.NEGATIVE_INFINITY;
  /** The numbers last sent, to skip a change that changed nothing. */
  let lastSent: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  /** Publications one after another, so the broker retains the latest. */
  let sending = Promise.resolve();
  let stopped = false;

  const send = () => {
    timer = undefined;
    const load = read();
    const key = JSON.stringify(load);
    if (stopped || key === lastSent) return;
    lastSent = key;
    lastSentAt = performance.now();
    const payload = encodeJson(loadSchema, { ...load, timestamp: new Date().toISOString() });
    sending = sending
      .then(() => bus.publish(topics.load(), payload, { qos: 1, retain: true }))
      .then(
        () => undefined,
        (err: unknown) => log(`load: could not publish: ${errorMessage(err)}`),
      );
  };
  const changed = () => {
    if (stopped || timer) return;
    // A timer even when the interval has passed: the changes of one burst go out as one message.
    timer = setTimeout(send, Math.max(0, lastSentAt + intervalMs - performance.now()));
  };
  // After a reconnect the broker has published the will (the load cleared): send it again.
  const stopFollowing = bus.onReconnect(() => {
    lastSent = undefined;
    changed();
  });
  return {
    changed,
    async clear() {
      stopped = true;
      clearTimeout(timer);
      stopFollowing();
      await sending;
      if (bus.connected) await bus.clearRetained(topics.load());
    },
  };
}

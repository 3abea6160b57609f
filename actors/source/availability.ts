/**
 * The deployment's availability on `status` (retained `online` / `offline`, what Home
 * Assistant's availability_topic expects). The source serves the requests, so it owns it.
 *
 * It needs a connection of its own: MQTT gives a connection one last will, and the
 * source's main connection's will clears its presence. This one's will is `offline`, so
 * a source that dies (crash, SIGKILL, lost link) turns the deployment offline at once
 * (socket closed) or after its keepalive (link lost).
 */
import type { Bus } from "../../broker/bus.js";
import { STATUS, type Status } from "../../broker/messages.js";
import type { Topics } from "../../broker/topics.js";
import { errorMessage } from "../../core/errors.js";

/** The last will to connect the status connection with. */
export const statusWill = (topics: Topics) => ({
  topic: topics.status(),
  payload: STATUS.offline,
  retain: true,
  qos: 1 as const,
});

export interface Availability {
  /** Taking requests (held until the plan's devices are ready): publishes `online` (once; again after a reconnect, since the broker sent the will). */
  online(): Promise<void>;
  /** A graceful stop: publishes `offline` and stops following reconnects. */
  offline(): Promise<void>;
}

export function availability(bus: Bus, topics: Topics, log: (line: string) => void): Availability {
  let state: Status | undefined;
  const publish = async (status: Status) => {
    state = status;
    await bus.publish(topics.status(), status, { qos: 1, retain: true });
  };
  // After a reconnect the broker has published the will (`offline`): say online again.
  const stopFollowing = bus.onReconnect(() => {
    if (state === STATUS.online)
      publish(STATUS.online).catch((err: unknown) =>
        log(`status: could not publish online again: ${errorMessage(err)}`),
      );
  });
  return {
    async online() {
      if (state !== STATUS.online) await publish(STATUS.online);
    },
    async offline() {
      stopFollowing();
      if (bus.connected) await publish(STATUS.offline);
    },
  };
}

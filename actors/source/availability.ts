/**
 * The deployment's availability on `status` (retained `online` / `offline`, what Home
 * Assistant's availability_topic expects). The source serves the requests, so it owns it.
 *
 * It needs a connection of its own: MQTT gives a connection one last will, and the
 * source's main connection's will clears its presence. This one's will is `offline`, so
 * a source that dies (crash, SIGKILL, lost link) turns the deployment offline at once
 * (socket closed) or after its keepalive (link lost).
 *
 * After the broker comes back, `online` waits until the source's serving connection has
 * been up for SUBSCRIBED_AGAIN_MS: mqtt.js subscribes again only after it has sent what
 * it queued while away, and a client that saw `online` earlier could publish a request
 * nobody reads yet (a broker without persistence keeps no subscriptions).
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

/** How long the serving connection must be up again before the source says `online`: its re-subscription takes a few ms. */
export const SUBSCRIBED_AGAIN_MS = 500;

export interface Availability {
  /** Taking requests (held until the plan's devices are ready): publishes `online` (once; again after a reconnect, since the broker sent the will). */
  online(): Promise<void>;
  /** A graceful stop: publishes `offline` and stops following reconnects. */
  offline(): Promise<void>;
}

/** `bus`: the status connection; `serving`: the connection requests arrive on. */
export function availability(bus: Bus, topics: Topics, log: (line: string) => void, serving: Bus): Availability {
  let state: Status | undefined;
  const publish = async (status: Status) => {
    state = status;
    await bus.publish(topics.status(), status, { qos: 1, retain: true });
  };
  // After a reconnect of either connection the broker may have published the will
  // (`offline`) or lost the retained status: say online again once requests are heard.
  // One wait at a time: whenSteady already waits out a second reconnection that comes meanwhile.
  let waiting = false;
  const again = () => {
    if (state !== STATUS.online || waiting) return;
    waiting = true;
    serving
      .whenSteady(SUBSCRIBED_AGAIN_MS)
      .then(() => (state === STATUS.online ? publish(STATUS.online) : undefined))
      .catch((err: unknown) => {
        // Closed on the way down (offline() came first) is no news.
        if (state === STATUS.online) log(`status: could not publish online again: ${errorMessage(err)}`);
      })
      .finally(() => {
        waiting = false;
      });
  };
  const stops = [bus.onReconnect(again), serving.onReconnect(again)];
  const stopFollowing = () => {
    for (const stop of stops) stop();
  };
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

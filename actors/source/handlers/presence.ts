/**
 * `workers/<deviceId>` (retained presence, empty when a device is gone): keeps the
 * roster, and fails the running job when a device of its plan leaves, so it never
 * waits for a device that is not there; the planner then plans for the devices left.
 */
import { decodePresence } from "../../../broker/messages.js";
import { EdgefuseError } from "../../../core/errors.js";
import { type SourceHandler, SourceState } from "../state.js";

export const handlePresence: SourceHandler = (state, topic, payload) => {
  const parsed = state.topics.parse(topic);
  if (parsed?.kind !== "worker" || parsed.workerId === state.sourceId) return;
  const deviceId = parsed.workerId;
  const presence = decodePresence(topic, payload);
  if (presence) state.roster.set(deviceId, presence);
  else state.roster.delete(deviceId);
  const { running, current } = state;
  if (!presence && running && current && SourceState.includes(current.followed, deviceId)) {
    state.dispatcher.fail(
      running.jobId,
      new EdgefuseError(
        "device-left",
        `device ${deviceId} left while job ${running.jobId} was running; the plan is being made again for the devices left`,
      ),
    );
  }
  state.checkReady();
};

/**
 * `workers/<deviceId>` (retained presence, empty when a device is gone): keeps the
 * roster, and fails the running jobs when a device of their plan leaves, so it never
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
  const { current } = state;
  if (!presence && current && SourceState.includes(current.followed, deviceId)) {
    // Every job in flight runs on the current plan: each needed the device.
    for (const jobId of state.running.keys())
      state.dispatcher.fail(
        jobId,
        new EdgefuseError(
          "device-left",
          `device ${deviceId} left while job ${jobId} was running; the plan is being made again for the devices left`,
        ),
      );
  }
  state.checkReady();
};

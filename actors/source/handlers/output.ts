/**
 * `job/<jobId>/layer/<l>/part/<p>/out`: a worker's output, handed to the dispatcher. A
 * bad one is logged and fails the running job it belongs to (its result would be wrong).
 */
import { errorMessage } from "../../../core/errors.js";
import type { SourceHandler } from "../state.js";

export const handleOutput: SourceHandler = (state, topic, payload) => {
  try {
    state.dispatcher.deliver(topic, payload);
  } catch (err) {
    const parsed = state.topics.parse(topic);
    const jobId = parsed && "jobId" in parsed ? parsed.jobId : undefined;
    state.log(`bad output on ${topic}: ${errorMessage(err)}`);
    if (jobId && state.running.has(jobId)) state.dispatcher.fail(jobId, err as Error);
  }
};

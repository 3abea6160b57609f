/**
 * `errors/<requestId>`: a worker's report fails the running job it is for, at once and
 * with the worker's words; the source then does not report the failure again. The
 * source hears its own reports here too and knows them by their `from`, not by their
 * text; a report without `from` (an older device) is a worker's.
 */
import { decodeJson, errorMessageSchema } from "../../../broker/messages.js";
import { EdgefuseError } from "../../../core/errors.js";
import type { SourceHandler } from "../state.js";

export const handleErrorReport: SourceHandler = (state, topic, payload) => {
  // Decoded whether or not a job runs: a malformed report is logged either way (the subscription's onError).
  const report = decodeJson(topic, payload, errorMessageSchema);
  const running = state.running.get(report.requestId);
  if (!running || state.isOwnReport(report.from)) return;
  running.reportedByWorker = true;
  state.dispatcher.fail(running.jobId, new EdgefuseError(report.code, `${report.where}: ${report.message}`));
};

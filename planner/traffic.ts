/**
 * Measured traffic beside the model: the bytes that crossed device links for the
 * weight-partitioned layers (broker counters of the workers' connections, by layer),
 * and the plan's modelled bytes for the same layers: C (paper eqs. 7–10) as the dtypes
 * the plan's wire chose, which is the prediction's bytes per stage (latency.ts).
 */
import type { ClientTraffic } from "../broker/traffic.js";
import type { Plan } from "./schema.js";

export interface TrafficComparison {
  /** The prediction's scatter + gather bytes over the plan's partitioned stages: Σ C_l × 4 for float32. */
  readonly modelledBytes: number;
  /** Payload bytes to and from the workers on those steps' job topics, frame and chunk headers included. */
  readonly measuredBytes: number;
  /** measured / modelled − 1. */
  readonly deviation: number;
}

/** The predicted stages of the weight-partitioned layers (not FTP, not the source's own). */
function partitionedStages(plan: Plan) {
  if (!plan.prediction) throw new Error(`plan ${plan.id} has no prediction to compare traffic with`);
  return plan.prediction.stages.filter((s) => s.scheme !== "ftp" && s.scheme !== "source");
}

/**
 * `before`/`after`: broker.bytes() snapshots around one request. Only the workers'
 * connections count: in the embedded default the broker runs on the source's device,
 * so the source's own connection is not a link.
 */
export function compareTraffic(
  plan: Plan,
  before: Record<string, ClientTraffic>,
  after: Record<string, ClientTraffic>,
  workerClientIds: readonly string[],
): TrafficComparison {
  const stages = partitionedStages(plan);
  // A stage's messages travel on the job topics of its first layer.
  const layers = new Set(stages.map((s) => s.layers[0]));
  const modelledBytes = stages.reduce((a, s) => a + s.scatterBytes + s.gatherBytes, 0);
  let measuredBytes = 0;
  for (const id of workerClientIds) {
    for (const layer of layers) {
      const a = after[id]?.byLayer[layer];
      const b = before[id]?.byLayer[layer];
      measuredBytes +=
        (a?.payloadBytesIn ?? 0) + (a?.payloadBytesOut ?? 0) - (b?.payloadBytesIn ?? 0) - (b?.payloadBytesOut ?? 0);
    }
  }
  return { modelledBytes, measuredBytes, deviation: modelledBytes ? measuredBytes / modelledBytes - 1 : 0 };
}

/**
 * Measured traffic beside the model: the bytes that crossed device links for the
 * weight-partitioned layers (broker counters of the workers' connections, by layer),
 * and the plan's modelled C for the same layers.
 */
import type { ClientTraffic } from "../broker/traffic.js";
import type { Plan } from "./schema.js";

export interface TrafficComparison {
  /** Σ C_l × 4 over the plan's partitioned steps (paper eqs. 7–10). */
  readonly modelledBytes: number;
  /** Payload bytes to and from the workers on those steps' job topics, frame and chunk headers included. */
  readonly measuredBytes: number;
  /** measured / modelled − 1. */
  readonly deviation: number;
}

const partitioned = (plan: Plan) =>
  plan.steps.filter((s) => s.scheme !== "source" && s.scheme !== "carry") as Extract<
    Plan["steps"][number],
    { elements: number }
  >[];

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
  bytesPerElement = 4,
): TrafficComparison {
  const steps = partitioned(plan);
  const layers = new Set(steps.map((s) => s.layer));
  const modelledBytes = steps.reduce((a, s) => a + s.elements * bytesPerElement, 0);
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

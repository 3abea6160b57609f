/** Run records made up for the reports' tests. */
import type { RunRecord } from "../experiment.js";

/** A timed run with what a report reads; the rest is filler of the right shape. */
export function timedRun(
  o: {
    scheme: string;
    latencyMs: number;
    predictedMs: number | null;
    devices?: number;
    bandwidthMbit?: number;
    profile?: string;
    repeat?: number;
  },
  more: Partial<RunRecord> = {},
): RunRecord {
  const devices = o.devices ?? 3;
  const bandwidthMbit = o.bandwidthMbit ?? 100;
  return {
    topology: "paper",
    gatewayMbit: null,
    profile: o.profile ?? "identical",
    deviceBandwidthMbit: Array.from({ length: devices }, () => bandwidthMbit),
    deviceCpuShare: Array.from({ length: devices }, () => 0.25),
    deviceMemoryMb: Array.from({ length: devices }, () => 4096),
    scheme: o.scheme,
    strategy: "auto",
    ftpEnd: "auto",
    devices,
    bandwidthMbit,
    cpuShare: 0.25,
    repeat: o.repeat ?? 1,
    planId: `plan-${o.scheme}`,
    latencyMs: o.latencyMs,
    predictedMs: o.predictedMs,
    sourceTotalMs: o.latencyMs,
    linkBytes: {},
    bytesBusiestLink: 0,
    modelledBytes: 1,
    measuredBytes: 1,
    planCostBytes: 1,
    criticalComputeMs: 0,
    lowerBoundMs: 0,
    stages: [],
    ftpInputBytes: 0,
    ftpPublishedBytes: 0,
    weightsPerDeviceBytes: [1, 1, 1],
    presenceWeightBytes: [null, null, null],
    measuredLinkMbit: [],
    detections: [],
    ...more,
  };
}

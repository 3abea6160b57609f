/**
 * Records → what people read: one summary row per (topology, profile, devices,
 * bandwidth, scheme) with medians over the repeats, a plain-text table for the
 * terminal, and CSV.
 */
import type { RunRecord } from "./experiment.js";

export interface Summary {
  readonly topology: string;
  readonly profile: string;
  readonly devices: number;
  readonly bandwidthMbit: number;
  readonly scheme: string;
  readonly runs: number;
  readonly latencyMs: number;
  /** The plan's prediction of latencyMs; null for a plan without one. */
  readonly predictedMs: number | null;
  readonly lowerBoundMs: number;
  /** The source's decoding before the first stage and interpreting after the last (part of the bound's compute). */
  readonly sourceEdgesMs: number;
  readonly bytesBusiestLink: number;
  /** What the FTP tile devices received (regions, or the image itself). */
  readonly ftpInputBytes: number;
  readonly modelledBytes: number;
  readonly measuredBytes: number;
  readonly planCostBytes: number;
  /** The fullest device's weight shards. */
  readonly maxWeightsBytes: number;
  readonly measuredLinkMbit: number;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Mean of every measured link direction; NaN when nothing was measured (one device). */
export const meanLinkMbit = (r: RunRecord): number => {
  const all = r.measuredLinkMbit.flatMap((l) => [l.up, l.down]);
  return all.length ? all.reduce((a, b) => a + b, 0) / all.length : NaN;
};

export function summarize(records: readonly RunRecord[]): Summary[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of records) {
    const key = `${r.topology}|${r.profile}|${r.devices}|${r.bandwidthMbit}|${r.scheme}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const first = rs[0]!;
    const med = (f: (r: RunRecord) => number): number => median(rs.map(f));
    return {
      topology: first.topology,
      profile: first.profile,
      devices: first.devices,
      bandwidthMbit: first.bandwidthMbit,
      scheme: first.scheme,
      runs: rs.length,
      latencyMs: med((r) => r.latencyMs),
      predictedMs: first.predictedMs,
      lowerBoundMs: med((r) => r.lowerBoundMs),
      sourceEdgesMs: med((r) => (r.preprocessMs ?? 0) + (r.postprocessMs ?? 0)),
      bytesBusiestLink: med((r) => r.bytesBusiestLink),
      ftpInputBytes: med((r) => r.ftpInputBytes),
      modelledBytes: first.modelledBytes,
      measuredBytes: med((r) => r.measuredBytes),
      planCostBytes: first.planCostBytes,
      maxWeightsBytes: Math.max(...first.weightsPerDeviceBytes),
      measuredLinkMbit: meanLinkMbit(first),
    };
  });
}

const MB = (b: number): string => (b / 1e6).toFixed(1);
const s = (ms: number): string => (ms / 1000).toFixed(2);

export function formatTable(records: readonly RunRecord[]): string {
  const head = [
    "devices",
    "mbit",
    "scheme",
    "runs",
    "latency s",
    "lower bound s",
    "busiest link MB",
    "FTP in MB",
    "modelled MB",
    "measured MB",
    "max weights MB",
    "link mbit",
  ];
  const rows = summarize(records).map((r) =>
    [
      r.devices,
      r.bandwidthMbit,
      r.scheme,
      r.runs,
      s(r.latencyMs),
      s(r.lowerBoundMs),
      MB(r.bytesBusiestLink),
      MB(r.ftpInputBytes),
      MB(r.modelledBytes),
      MB(r.measuredBytes),
      MB(r.maxWeightsBytes),
      Number.isNaN(r.measuredLinkMbit) ? "–" : r.measuredLinkMbit.toFixed(1),
    ].map(String),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [head, ...rows].map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join("  ")).join("\n");
}

const CSV_COLUMNS = [
  "topology",
  "profile",
  "devices",
  "bandwidthMbit",
  "cpuShare",
  "gatewayMbit",
  "deviceBandwidthMbit",
  "deviceCpuShare",
  "deviceMemoryMb",
  "scheme",
  "strategy",
  "ftpEnd",
  "objective",
  "split",
  "wire",
  "repeat",
  "planId",
  "latencyMs",
  "predictedMs",
  "sourceTotalMs",
  "lowerBoundMs",
  "criticalComputeMs",
  "bytesBusiestLink",
  "ftpInputBytes",
  "modelledBytes",
  "measuredBytes",
  "planCostBytes",
  "maxWeightsBytes",
  "measuredLinkMbit",
] as const;

export function toCsv(records: readonly RunRecord[]): string {
  const cell = (r: RunRecord, c: (typeof CSV_COLUMNS)[number]): string => {
    if (c === "maxWeightsBytes") return String(Math.max(...r.weightsPerDeviceBytes));
    // Per-device lists in one cell, the source first; ";" keeps the row's commas for columns.
    if (c === "deviceBandwidthMbit" || c === "deviceCpuShare" || c === "deviceMemoryMb") return r[c].join(";");
    if (c === "measuredLinkMbit") return Number.isNaN(meanLinkMbit(r)) ? "" : meanLinkMbit(r).toFixed(2);
    const v = r[c];
    if (v === undefined || v === null) return "";
    return typeof v === "number" && !Number.isInteger(v) ? v.toFixed(2) : String(v);
  };
  return `${[CSV_COLUMNS.join(","), ...records.map((r) => CSV_COLUMNS.map((c) => cell(r, c)).join(","))].join("\n")}\n`;
}

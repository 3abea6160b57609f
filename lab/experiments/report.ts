/**
 * The experiment's output files from its records: runs.csv and runs.jsonl, predicted
 * against measured latency, and either table1.md and table2.md beside the paper's
 * numbers with three more plots, the planner check (check-report.ts) or the wire
 * check (wire-check.ts). Written after
 * every setting, so an interrupted run still leaves what it measured.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunRecord } from "../experiment.js";
import { lineChart, type Series } from "../plot.js";
import { summarize, toCsv, type Summary } from "../tables.js";
import { CHECK_PLOTS, checkReport, predictedVsMeasured, runtimeVsDevices } from "./check-report.js";
import { LOP, OPTIMUM, OPTIMUM_OWN_FTP, SINGLE, TABLE2 } from "./grid.js";
import { latencyVsBusiestLink, WIRE_PLOT, wireReport } from "./wire-check.js";

/** The paper's Table 1 (6 devices, YOLOv2): LOP / FUSE run time in s, by Mbit/s; memory per device in MB, by device count. */
export const PAPER_RUNTIME_S: Readonly<Record<number, readonly [number, number]>> = {
  10: [74.2, 64.2],
  100: [11.6, 10.1],
  1000: [5.92, 5.59],
};
export const PAPER_MEMORY_MB: Readonly<Record<number, number>> = { 1: 204, 3: 68, 5: 41, 6: 34, 7: 29 };
/** The paper's Table 2 (6 devices, 100 Mbit): C in MB. */
export const PAPER_C_MB = { lop: 78.1, fused: 68.1 };

export const PLOTS = {
  devices: "runtime-vs-devices.svg",
  bandwidth: "runtime-vs-bandwidth.svg",
  comm: "comm-vs-runtime.svg",
} as const;

/** "paper topology, 0.25 core per device": what every table of one run shares. */
function topologyOf(records: readonly RunRecord[]): string {
  const topologies = [...new Set(records.map((r) => r.topology))];
  const shares = [...new Set(records.map((r) => r.cpuShare))];
  return `${topologies.join(" + ")} topology, ${shares.join(" / ")} core per device`;
}

const MB = (b: number): string => (b / 1e6).toFixed(1);
const sec = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : "–");
const find = (rows: readonly Summary[], devices: number, mbit: number, label: string): Summary | undefined =>
  rows.find((r) => r.devices === devices && r.bandwidthMbit === mbit && r.scheme === label);

/** totalWeightsBytes: the whole model's weights, for the total ÷ N column. */
export function table1(records: readonly RunRecord[], totalWeightsBytes: number): string {
  const rows = summarize(records);
  const bw = [...new Set(rows.filter((r) => r.devices === 6).map((r) => r.bandwidthMbit))].sort((a, b) => a - b);
  const topology = topologyOf(records);
  const lines = [
    `### Run time, 6 devices (${topology})`,
    "",
    `| bandwidth | LOP (FTP 0–11) s | optimum (FTP 0–11) s | fusion speed-up | default (own FTP) s | lower bound (optimum) s | of which source decode + detect s | optimum ÷ bound | paper LOP / FUSE s |`,
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const mbit of bw) {
    const [lop, opt, own] = [LOP, OPTIMUM, OPTIMUM_OWN_FTP].map((s) => find(rows, 6, mbit, s.label));
    const paper = PAPER_RUNTIME_S[mbit];
    lines.push(
      `| ${mbit} Mbit | ${sec(lop?.latencyMs ?? NaN)} | ${sec(opt?.latencyMs ?? NaN)} | ${lop && opt ? `${(lop.latencyMs / opt.latencyMs).toFixed(2)}×` : "–"} | ${sec(own?.latencyMs ?? NaN)} | ${sec(opt?.lowerBoundMs ?? NaN)} | ${sec(opt?.sourceEdgesMs ?? NaN)} | ${opt ? (opt.latencyMs / opt.lowerBoundMs).toFixed(2) : "–"} | ${paper ? `${paper[0]} / ${paper[1]} (${(paper[0] / paper[1]).toFixed(2)}×)` : "–"} |`,
    );
  }
  const devices = [...new Set(rows.filter((r) => r.bandwidthMbit === 100).map((r) => r.devices))].sort((a, b) => a - b);
  lines.push(
    "",
    `### Run time and weights per device, 100 Mbit (${topology})`,
    "",
    "| devices | LOP (FTP 0–11) s | optimum (FTP 0–11) s | fusion speed-up | default (own FTP) s | weights, fullest device MB (optimum) | total ÷ N MB | paper memory MB |",
    "|---|---|---|---|---|---|---|---|",
  );
  for (const n of devices) {
    const single = find(rows, n, 100, SINGLE.label);
    const [lop, opt, own] = [LOP, OPTIMUM, OPTIMUM_OWN_FTP].map((s) => find(rows, n, 100, s.label));
    const weights = (opt ?? single)?.maxWeightsBytes;
    lines.push(
      `| ${n} | ${sec((lop ?? single)?.latencyMs ?? NaN)} | ${sec((opt ?? single)?.latencyMs ?? NaN)} | ${lop && opt ? `${(lop.latencyMs / opt.latencyMs).toFixed(2)}×` : "–"} | ${sec(own?.latencyMs ?? NaN)} | ${weights ? MB(weights) : "–"} | ${MB(totalWeightsBytes / n)} | ${PAPER_MEMORY_MB[n] ?? "–"} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export function table2(records: readonly RunRecord[]): string {
  const rows = summarize(records);
  const lop = find(rows, 6, 100, LOP.label);
  const lines = [
    `${topologyOf(records)}:`,
    "",
    "| plan (6 devices, 100 Mbit) | modelled C, partitioned layers MB | measured on worker links MB | deviation | plan C incl. FTP MB | vs all-LOP | busiest link MB | run time s | paper C MB |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const s of TABLE2) {
    const r = find(rows, 6, 100, s.label);
    if (!r) continue;
    const paper = s === LOP ? PAPER_C_MB.lop : s.planning.strategy === "auto" ? PAPER_C_MB.fused : undefined;
    const vs = lop ? `${((r.planCostBytes / lop.planCostBytes - 1) * 100).toFixed(1)} %` : "–";
    lines.push(
      `| ${s.label} | ${MB(r.modelledBytes)} | ${MB(r.measuredBytes)} | ${((r.measuredBytes / r.modelledBytes - 1) * 100).toFixed(2)} % | ${MB(r.planCostBytes)} | ${vs} | ${MB(r.bytesBusiestLink)} | ${sec(r.latencyMs)} | ${paper ?? "–"} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export function plots(records: readonly RunRecord[]): Record<keyof typeof PLOTS, string> {
  const rows = summarize(records);
  const line = (label: string, pick: (r: Summary) => boolean, x: (r: Summary) => number): Series => ({
    name: label,
    points: rows.filter((r) => r.scheme === label && pick(r)).map((r) => [x(r), r.latencyMs / 1000] as const),
  });
  const atOne = rows.find((r) => r.devices === 1);
  const withSingle = (s: Series): Series => ({
    ...s,
    points: atOne ? [[1, atOne.latencyMs / 1000], ...s.points] : s.points,
  });
  const t2 = TABLE2.flatMap((s) =>
    rows.filter((r) => r.devices === 6 && r.bandwidthMbit === 100 && r.scheme === s.label),
  );
  return {
    devices: lineChart({
      title: "YOLOv2 run time vs devices (100 Mbit)",
      xLabel: "devices",
      yLabel: "run time, s",
      series: [LOP, OPTIMUM, OPTIMUM_OWN_FTP].map((s) =>
        withSingle(
          line(
            s.label,
            (r) => r.bandwidthMbit === 100,
            (r) => r.devices,
          ),
        ),
      ),
    }),
    bandwidth: lineChart({
      title: "YOLOv2 run time vs bandwidth (6 devices)",
      xLabel: "Mbit/s (log)",
      yLabel: "run time, s",
      logX: true,
      series: [
        ...[LOP, OPTIMUM, OPTIMUM_OWN_FTP].map((s) =>
          line(
            s.label,
            (r) => r.devices === 6,
            (r) => r.bandwidthMbit,
          ),
        ),
        {
          name: "lower bound (optimum)",
          points: rows
            .filter((r) => r.devices === 6 && r.scheme === OPTIMUM.label)
            .map((r) => [r.bandwidthMbit, r.lowerBoundMs / 1000] as const),
        },
      ],
    }),
    comm: lineChart({
      title: "Communication vs run time (6 devices, 100 Mbit)",
      xLabel: "MB",
      yLabel: "run time, s",
      series: [
        {
          name: "modelled C",
          scatter: true,
          points: t2.map((r) => [r.modelledBytes / 1e6, r.latencyMs / 1000] as const),
          labels: t2.map((r) => r.scheme),
        },
        {
          name: "measured bytes",
          scatter: true,
          points: t2.map((r) => [r.measuredBytes / 1e6, r.latencyMs / 1000] as const),
        },
        {
          name: "busiest link",
          scatter: true,
          points: t2.map((r) => [r.bytesBusiestLink / 1e6, r.latencyMs / 1000] as const),
          labels: t2.map((r) => r.scheme),
        },
      ],
    }),
  };
}

/** What a report is of: the paper's tables, the planner check or the wire check; with the variants that could not be run. */
export interface ReportOptions {
  readonly grid: "tables" | "planner-check" | "wire-check";
  /** The whole model's weights, for table 1's total ÷ N. */
  readonly totalWeightsBytes: number;
  /** "label at setting: why", one per variant that was not run. */
  readonly refused?: readonly string[];
}

/** Every file of the report from the records so far; safe to call after every setting. */
export function writeReport(dir: string, records: readonly RunRecord[], o: ReportOptions): void {
  mkdirSync(dir, { recursive: true });
  const write = (name: string, text: string): void => writeFileSync(join(dir, name), text);
  write("runs.csv", toCsv(records));
  write("runs.jsonl", `${records.map((r) => JSON.stringify(r)).join("\n")}\n`);
  write(CHECK_PLOTS.predicted, predictedVsMeasured(records));
  if (o.grid === "planner-check") {
    write("check.md", checkReport(records, o.refused));
    write(CHECK_PLOTS.devices, runtimeVsDevices(records));
    return;
  }
  if (o.grid === "wire-check") {
    write("wire.md", wireReport(records));
    write(WIRE_PLOT, latencyVsBusiestLink(records));
    return;
  }
  write("table1.md", table1(records, o.totalWeightsBytes));
  write("table2.md", table2(records));
  const svgs = plots(records);
  for (const key of Object.keys(PLOTS) as (keyof typeof PLOTS)[]) write(PLOTS[key], svgs[key]);
}

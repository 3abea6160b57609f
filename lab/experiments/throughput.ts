/**
 * Throughput against offered rate: a camera (cli/camera-stream.ts) at increasing rates,
 * a fixed time each, on a deployment that runs several requests at once. What it
 * reports per rate: frames/s achieved, latency p50/p99, drops, refusals and other
 * errors; beside it the single-request latency L, since pipelining frames is worth
 * something only when the deployment sustains more than 1/L. The same sweep runs on
 * loopback (bench/throughput.ts, `up`) and in the namespace lab (throughput-lab.ts);
 * both write their BENCHMARKS.md section and, under docs/results/<date>/, the rows as
 * JSON, the table and two plots.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { machine, writeSection } from "../../bench/report.js";
import type { StreamReport } from "../../cli/camera-stream.js";
import { PACKAGE_ROOT } from "../../core/paths.js";
import { lineChart } from "../plot.js";

/** One stream: `count` frames at `fps`. */
export type Stream = (fps: number, count: number) => Promise<StreamReport>;

/** Default offered rates, as multiples of 1/L. */
export const DEFAULT_RATE_FACTORS = [0.5, 1, 1.5, 2, 2.5, 3] as const;
/** Between two rates: the devices finish what the last one left (annotating, freeing) before the next starts. */
const PAUSE_MS = 2_000;

export interface ThroughputRun {
  /** "loopback, `up --devices 6`", "lab, paper topology, 6 devices at 100 Mbit, 0.25 core each". */
  readonly where: string;
  readonly model: string;
  readonly devices: number;
  readonly durationS: number;
  /** Median of single requests, each sent once the one before is answered (singleRequestMs), ms. */
  readonly singleRequestMs: number;
  readonly rows: readonly StreamReport[];
}

/**
 * The single-request latency L: one request (a warm-up, and a first guess of L), then
 * three in one stream spaced 1.5 × that guess + 0.5 s apart, so each finds the devices
 * idle, as a lone request would; their median.
 */
export async function singleRequestMs(stream: Stream): Promise<number> {
  const latency = (r: StreamReport): number => {
    if (r.latencyMs.p50 === null) throw new Error(`a single request got no result: ${JSON.stringify(r.errors)}`);
    return r.latencyMs.p50;
  };
  const guess = latency(await stream(1, 1));
  return latency(await stream(1000 / (1.5 * guess + 500), 3));
}

/** Each rate for `durationS` (at least 2 frames), lowest first; a progress line per rate. */
export async function sweepRates(
  stream: Stream,
  rates: readonly number[],
  durationS: number,
  log: (line: string) => void,
  pauseMs = PAUSE_MS,
): Promise<StreamReport[]> {
  const rows: StreamReport[] = [];
  for (const fps of [...rates].sort((a, b) => a - b)) {
    const count = Math.max(2, Math.round(fps * durationS));
    log(`throughput: ${count} frames at ${fps} frames/s`);
    const row = await stream(fps, count);
    log(
      `throughput: ${fps} frames/s offered → ${row.throughputFps.toFixed(3)} achieved, p99 ${row.latencyMs.p99?.toFixed(0) ?? "–"} ms`,
    );
    rows.push(row);
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  return rows;
}

/** `rates` as given, or DEFAULT_RATE_FACTORS × 1/L rounded to 3 significant digits. */
export const ratesFor = (rates: readonly number[] | undefined, singleMs: number): number[] =>
  rates ? [...rates] : DEFAULT_RATE_FACTORS.map((f) => Number(((1000 * f) / singleMs).toPrecision(3)));

const s = (ms: number | null): string => (ms === null ? "–" : (ms / 1000).toFixed(2));
const errorCount = (r: StreamReport, code: string): number => r.errors[code] ?? 0;
const otherErrors = (r: StreamReport): number =>
  Object.entries(r.errors).reduce((n, [code, k]) => (code === "dropped" || code === "busy" ? n : n + k), 0);

/** The rate at which the deployment is saturated: the highest achieved. */
const saturation = (run: ThroughputRun): StreamReport | undefined =>
  [...run.rows].sort((a, b) => b.throughputFps - a.throughputFps)[0];

/** The table and the verdict: sustained frames/s at saturation against 2 × 1/L. */
export function throughputMarkdown(run: ThroughputRun): string {
  const once = 1000 / run.singleRequestMs;
  const best = saturation(run);
  const table = [
    "| offered frames/s | frames | achieved frames/s | p50 s | p99 s | results | dropped | refused (busy) | other errors | unanswered |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...run.rows.map(
      (r) =>
        `| ${r.offeredFps} | ${r.sent} | ${r.throughputFps.toFixed(3)} | ${s(r.latencyMs.p50)} | ${s(r.latencyMs.p99)} | ${r.results} | ${errorCount(r, "dropped")} | ${errorCount(r, "busy")} | ${otherErrors(r)} | ${r.unanswered} |`,
    ),
  ].join("\n");
  const verdict = best
    ? `At saturation ${best.throughputFps.toFixed(3)} frames/s (offered ${best.offeredFps}) with p99 ${s(best.latencyMs.p99)} s: ${(best.throughputFps / once).toFixed(2)} × 1/L (target ≥ 2 × ${best.throughputFps >= 2 * once ? "✓" : "✗"}).`
    : "No rate was run.";
  return `${run.where}, ${run.model}; ${run.durationS} s per rate. Single-request latency L = ${s(run.singleRequestMs)} s (1/L = ${once.toFixed(3)} frames/s: the median of 3 requests each sent on idle devices, after a warm-up).\n\n${table}\n\n${verdict}`;
}

export const THROUGHPUT_PLOTS = { throughput: "throughput-vs-offered.svg", p99: "p99-vs-offered.svg" } as const;

/** Achieved frames/s against offered, with the offered rate itself and 1/L × in-flight for reference. */
export function throughputPlot(run: ThroughputRun): string {
  const offered = run.rows.map((r) => r.offeredFps);
  return lineChart({
    title: `Throughput vs offered rate: ${run.model}, ${run.devices} devices`,
    xLabel: "offered, frames/s",
    yLabel: "achieved, frames/s",
    series: [
      { name: "achieved", points: run.rows.map((r) => [r.offeredFps, r.throughputFps] as const) },
      { name: "offered", points: offered.map((f) => [f, f] as const) },
      { name: "1/L (one at a time)", points: offered.map((f) => [f, 1000 / run.singleRequestMs] as const) },
    ],
  });
}

export function p99Plot(run: ThroughputRun): string {
  const points = (p: "p50" | "p99") =>
    run.rows.flatMap((r) => (r.latencyMs[p] === null ? [] : [[r.offeredFps, r.latencyMs[p]! / 1000] as const]));
  return lineChart({
    title: `Latency vs offered rate: ${run.model}, ${run.devices} devices`,
    xLabel: "offered, frames/s",
    yLabel: "latency, s",
    series: [
      { name: "p99", points: points("p99") },
      { name: "p50", points: points("p50") },
    ],
  });
}

const today = (): string => new Date().toISOString().slice(0, 10);

/** Where a run's files go by default: docs/results/<today>/throughput-<slug>/. */
export const throughputDir = (slug: string): string =>
  join(PACKAGE_ROOT, "docs", "results", today(), `throughput-${slug}`);

/** rows.json, throughput.md and the plots into `dir`, and the BENCHMARKS.md section `section` that links them. */
export function writeThroughput(run: ThroughputRun, o: { section: string; dir: string; heading: string }): void {
  const { dir, heading } = o;
  const date = today();
  const rel = relative(PACKAGE_ROOT, dir);
  mkdirSync(dir, { recursive: true });
  const body = throughputMarkdown(run);
  writeFileSync(join(dir, "rows.json"), `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(join(dir, "throughput.md"), `# ${heading}\n\n${date} · ${machine()}\n\n${body}\n`);
  writeFileSync(join(dir, THROUGHPUT_PLOTS.throughput), throughputPlot(run));
  writeFileSync(join(dir, THROUGHPUT_PLOTS.p99), p99Plot(run));
  const plots = Object.values(THROUGHPUT_PLOTS)
    .map((f) => `[${f}](${rel}/${f})`)
    .join(", ");
  writeSection(o.section, `## ${heading}\n\n${date} · ${machine()}\n\n${body}\n\nPlots: ${plots}.\n`);
}

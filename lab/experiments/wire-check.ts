/**
 * The wire check: the same plans with their tensors as float32, float16 and q8 (and the
 * planner's own choice, auto), side by side on one lab: bytes on the busiest link, what
 * the FTP tile devices received (their regions, or the request's image), and latency.
 * Two plans each: the least-communication ILP with the paper's FTP depth, whose schemes
 * do not depend on the wire (the same plan for every dtype), and the default, which
 * chooses its schemes knowing the wire.
 */
import type { LabScheme, RunRecord } from "../experiment.js";
import { lineChart, type Series } from "../plot.js";
import { median } from "../tables.js";
import { PAPER_YOLOV2 } from "../../planner/strategies.js";
import { WIRE_CHOICES, type WireChoice } from "../../planner/wire.js";
import { groupBy } from "./check-report.js";
import type { Setting } from "./grid.js";

export const WIRE_CHECK_DEVICES = 6;
/**
 * 100 Mbit, where links bound; 1 Gbit, where the CPU that moves and codes the bytes does;
 * 10 Mbit, where sending the tile devices the image beats decoding it on a quarter core.
 */
export const WIRE_CHECK_MBIT = [100, 1000, 10] as const;

/** The plans, each as every wire choice; labels "ILP-C FTP 12@f16". */
export function wireSchemes(maxFtpEnd: number): LabScheme[] {
  const ftpEnd = Math.min(PAPER_YOLOV2.ftpEnd, maxFtpEnd);
  const plans: LabScheme[] = [
    { label: `ILP-C FTP ${ftpEnd}`, planning: { strategy: "auto", ftpEnd, objective: "comm" } },
    { label: "default", planning: { strategy: "auto", ftpEnd: "auto", objective: "latency" } },
  ];
  return plans.flatMap((p) =>
    WIRE_CHOICES.map((wire) => ({ label: `${p.label}@${wire}`, planning: { ...p.planning, wire } })),
  );
}

export function wireCheckGrid(maxFtpEnd: number): Setting[] {
  return WIRE_CHECK_MBIT.map((bandwidthMbit) => ({
    devices: WIRE_CHECK_DEVICES,
    bandwidthMbit,
    profile: "identical",
    schemes: wireSchemes(maxFtpEnd),
  }));
}

interface WireRow {
  readonly plan: string;
  readonly wire: WireChoice;
  readonly bandwidthMbit: number;
  readonly runs: number;
  readonly latencyMs: number;
  readonly predictedMs: number | null;
  readonly busiestLinkBytes: number;
  readonly ftpInputBytes: number;
  readonly ftpPublishedBytes: number;
  readonly detections: number;
}

const planOf = (label: string): string => label.replace(/@[a-z0-9]+$/, "");

function rows(records: readonly RunRecord[]): WireRow[] {
  return groupBy(records, (r) => `${r.bandwidthMbit}|${r.scheme}`).map((rs) => {
    const first = rs[0]!;
    return {
      plan: planOf(first.scheme),
      wire: first.wire ?? "auto",
      bandwidthMbit: first.bandwidthMbit,
      runs: rs.length,
      latencyMs: median(rs.map((r) => r.latencyMs)),
      predictedMs: first.predictedMs,
      busiestLinkBytes: median(rs.map((r) => r.bytesBusiestLink)),
      ftpInputBytes: median(rs.map((r) => r.ftpInputBytes)),
      ftpPublishedBytes: median(rs.map((r) => r.ftpPublishedBytes)),
      detections: first.detections.length,
    };
  });
}

const MB = (b: number): string => (b / 1e6).toFixed(2);
const sec = (ms: number | null): string => (ms === null ? "–" : (ms / 1000).toFixed(2));
const times = (a: number, b: number): string => (a > 0 && b > 0 ? `${(a / b).toFixed(2)} ×` : "–");

/** wire.md: per bandwidth and plan, every wire beside float32. */
export function wireReport(records: readonly RunRecord[]): string {
  const all = rows(records);
  const first = records[0];
  const lines = [
    "# Wire check",
    "",
    first
      ? `${first.devices} devices (${first.topology} topology, ${first.cpuShare} core each); medians of the timed runs. "÷ f32": float32's bytes over this wire's (how many times fewer). FTP input received: what the tile devices took in, summed; sent: what the source published for them (the image goes once, on layerIn; with a broker of its own that is what crosses the source's link).`
      : "no runs",
  ];
  for (const mbit of [...new Set(all.map((r) => r.bandwidthMbit))]) {
    for (const plan of [...new Set(all.map((r) => r.plan))]) {
      const these = all.filter((r) => r.bandwidthMbit === mbit && r.plan === plan);
      const f32 = these.find((r) => r.wire === "f32");
      lines.push(
        "",
        `### ${plan}, ${mbit} Mbit`,
        "",
        "| wire | runs | latency s | predicted s | busiest link MB | ÷ f32 | FTP input received MB | ÷ f32 | FTP input sent MB | ÷ f32 | detections |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        ...these.map((r) => {
          const vsF32 = (bytes: (x: WireRow) => number) => (f32 ? times(bytes(f32), bytes(r)) : "–");
          return `| ${r.wire} | ${r.runs} | ${sec(r.latencyMs)} | ${sec(r.predictedMs)} | ${MB(r.busiestLinkBytes)} | ${vsF32((x) => x.busiestLinkBytes)} | ${MB(r.ftpInputBytes)} | ${vsF32((x) => x.ftpInputBytes)} | ${MB(r.ftpPublishedBytes)} | ${vsF32((x) => x.ftpPublishedBytes)} | ${r.detections} |`;
        }),
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

export const WIRE_PLOT = "latency-vs-busiest-link.svg";

/** Latency against the busiest link's bytes, one point per run, a series per wire. */
export function latencyVsBusiestLink(records: readonly RunRecord[]): string {
  const series: Series[] = WIRE_CHOICES.map((wire) => {
    const rs = records.filter((r) => (r.wire ?? "auto") === wire);
    return {
      name: wire,
      scatter: true,
      points: rs.map((r) => [r.bytesBusiestLink / 1e6, r.latencyMs / 1000] as const),
      labels: rs.map((r) => planOf(r.scheme)),
    };
  }).filter((s) => s.points.length > 0);
  return lineChart({
    title: "Latency vs bytes on the busiest link, by wire type",
    xLabel: "busiest link, MB",
    yLabel: "latency, s",
    series,
  });
}

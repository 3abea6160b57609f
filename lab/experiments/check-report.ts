/**
 * The planner check's verdicts from its records: per setting, every plan's measured
 * and predicted latency, the default plan's ratio to the fastest alternative and each
 * prediction's relative error, flagged where they miss their limits; and the two
 * plots that show it (predicted against measured, run time against devices).
 */
import type { RunRecord } from "../experiment.js";
import { lineChart, type Series } from "../plot.js";
import { median } from "../tables.js";
import { DEFAULT_LABEL } from "./planner-check.js";

/** The default may be at most 5 % slower than the fastest alternative; a prediction at most 20 % off its measurement. */
export const CHECK_LIMITS = { defaultRatio: 1.05, predictionError: 0.2 } as const;

export interface PlanCheck {
  readonly scheme: string;
  readonly runs: number;
  /** Median over the timed runs. */
  readonly measuredMs: number;
  readonly predictedMs: number | null;
  /** |predicted − measured| / measured; null without a prediction. */
  readonly error: number | null;
  readonly errorOk: boolean | null;
}

export interface SettingCheck {
  readonly topology: string;
  readonly profile: string;
  readonly devices: number;
  readonly bandwidthMbit: number;
  readonly deviceBandwidthMbit: readonly number[];
  readonly deviceCpuShare: readonly number[];
  readonly plans: readonly PlanCheck[];
  /** The default's measured latency ÷ the fastest alternative's; null when either is missing. */
  readonly defaultRatio: number | null;
  readonly fastestAlternative: string | null;
  readonly ratioOk: boolean | null;
}

const settingKey = (r: RunRecord): string => `${r.topology}|${r.profile}|${r.devices}|${r.bandwidthMbit}`;

/** The items in groups of equal key, in the order each key first appears. */
export function groupBy<T>(items: readonly T[], key: (t: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const t of items) groups.set(key(t), [...(groups.get(key(t)) ?? []), t]);
  return [...groups.values()];
}

function planCheck(runs: readonly RunRecord[]): PlanCheck {
  const measuredMs = median(runs.map((r) => r.latencyMs));
  const predictedMs = runs[0]!.predictedMs;
  const error = predictedMs === null ? null : Math.abs(predictedMs - measuredMs) / measuredMs;
  return {
    scheme: runs[0]!.scheme,
    runs: runs.length,
    measuredMs,
    predictedMs,
    error,
    errorOk: error === null ? null : error <= CHECK_LIMITS.predictionError,
  };
}

/** One verdict per setting, in the records' order. */
export function checkSettings(records: readonly RunRecord[]): SettingCheck[] {
  return groupBy(records, settingKey).map((rs) => {
    const first = rs[0]!;
    const plans = groupBy(rs, (r) => r.scheme).map(planCheck);
    const own = plans.find((p) => p.scheme === DEFAULT_LABEL);
    const fastest = plans
      .filter((p) => p.scheme !== DEFAULT_LABEL)
      .reduce<PlanCheck | undefined>((best, p) => (!best || p.measuredMs < best.measuredMs ? p : best), undefined);
    const defaultRatio = own && fastest ? own.measuredMs / fastest.measuredMs : null;
    return {
      topology: first.topology,
      profile: first.profile,
      devices: first.devices,
      bandwidthMbit: first.bandwidthMbit,
      deviceBandwidthMbit: first.deviceBandwidthMbit,
      deviceCpuShare: first.deviceCpuShare,
      plans,
      defaultRatio,
      fastestAlternative: fastest?.scheme ?? null,
      ratioOk: defaultRatio === null ? null : defaultRatio <= CHECK_LIMITS.defaultRatio,
    };
  });
}

const sec = (ms: number | null): string => (ms === null ? "–" : (ms / 1000).toFixed(2));
const pct = (x: number | null): string => (x === null ? "–" : `${(x * 100).toFixed(1)} %`);
/** A miss is marked so that a reader (and grep) finds it. */
const FLAG = "**✗**";
const mark = (ok: boolean | null): string => (ok === false ? ` ${FLAG}` : "");
const list = (xs: readonly number[]): string => (new Set(xs).size === 1 ? String(xs[0]) : xs.join(" / "));

/** The heading and the table of one setting. */
export function settingTable(c: SettingCheck): string {
  const lines = [
    `### ${c.devices} devices, ${c.bandwidthMbit} Mbit, ${c.profile} (${c.topology} topology)`,
    "",
    `Links ${list(c.deviceBandwidthMbit)} Mbit, CPU ${list(c.deviceCpuShare)} cores (per device, the source first).`,
    "",
    "| plan | runs | measured s | predicted s | \\|predicted − measured\\| / measured | ÷ fastest alternative |",
    "|---|---|---|---|---|---|",
  ];
  const fastest = c.plans.find((p) => p.scheme === c.fastestAlternative);
  for (const p of c.plans) {
    const ratio = fastest ? p.measuredMs / fastest.measuredMs : null;
    const ratioText = ratio === null ? "–" : `${ratio.toFixed(2)}${p.scheme === DEFAULT_LABEL ? mark(c.ratioOk) : ""}`;
    lines.push(
      `| ${p.scheme} | ${p.runs} | ${sec(p.measuredMs)} | ${sec(p.predictedMs)} | ${pct(p.error)}${mark(p.errorOk)} | ${ratioText} |`,
    );
  }
  const verdict =
    c.defaultRatio === null
      ? "no default or no alternative measured"
      : `${c.defaultRatio.toFixed(2)} (limit ${CHECK_LIMITS.defaultRatio})${c.ratioOk ? "" : ` ${FLAG}`}`;
  lines.push("", `Default ÷ fastest alternative (${c.fastestAlternative ?? "–"}): ${verdict}.`);
  return lines.join("\n");
}

/** check.md: what was held against which limit, the misses counted, then every setting's table. */
export function checkReport(records: readonly RunRecord[], refused: readonly string[] = []): string {
  const checks = checkSettings(records);
  const plans = checks.flatMap((c) => c.plans);
  const predicted = plans.filter((p) => p.error !== null);
  const slowDefaults = checks.filter((c) => c.ratioOk === false).length;
  const badPredictions = predicted.filter((p) => p.errorOk === false).length;
  const head = [
    "# Planner check",
    "",
    `The default plan (least predicted time) against every fixed alternative; limits: default ÷ fastest alternative ≤ ${CHECK_LIMITS.defaultRatio}, |predicted − measured| / measured ≤ ${CHECK_LIMITS.predictionError * 100} %. Measured: medians of the timed runs. Misses are marked ${FLAG}.`,
    "",
    `- settings: ${checks.length}; the default slower than allowed in ${slowDefaults}`,
    `- plans: ${plans.length}, ${predicted.length} with a prediction; off by more than ${CHECK_LIMITS.predictionError * 100} % in ${badPredictions}`,
    ...(refused.length ? [`- not run (${refused.length}):`, ...refused.map((r) => `  - ${r}`)] : []),
  ];
  return `${[...head, "", ...checks.map(settingTable).flatMap((t) => [t, ""])].join("\n")}`;
}

export const CHECK_PLOTS = {
  predicted: "predicted-vs-measured.svg",
  devices: "check-runtime-vs-devices.svg",
} as const;

/** One point per timed run, a series per bandwidth, on log axes with y = x and the ±20 % band. */
export function predictedVsMeasured(records: readonly RunRecord[]): string {
  const withPrediction = records.filter((r) => r.predictedMs !== null);
  const series: Series[] = groupBy(withPrediction, (r) => String(r.bandwidthMbit))
    .sort((a, b) => a[0]!.bandwidthMbit - b[0]!.bandwidthMbit)
    .map((rs) => ({
      name: `${rs[0]!.bandwidthMbit} Mbit`,
      scatter: true,
      points: rs.map((r) => [r.latencyMs / 1000, r.predictedMs! / 1000] as const),
    }));
  return lineChart({
    title: "Predicted vs measured latency (one point per run)",
    xLabel: "measured, s (log)",
    yLabel: "predicted, s (log)",
    logX: true,
    logY: true,
    identity: { band: CHECK_LIMITS.predictionError },
    series,
  });
}

/** The default plan's run time by device count, a line per bandwidth, identical devices at one device's share. */
export function runtimeVsDevices(records: readonly RunRecord[]): string {
  const defaults = records.filter((r) => r.scheme === DEFAULT_LABEL && r.profile === "identical");
  const shares = [...new Set(defaults.map((r) => r.cpuShare))];
  const series: Series[] = groupBy(defaults, (r) => `${r.topology}|${r.bandwidthMbit}`)
    .sort((a, b) => a[0]!.bandwidthMbit - b[0]!.bandwidthMbit)
    .map((rs) => ({
      name: `${rs[0]!.bandwidthMbit} Mbit`,
      points: groupBy(rs, (r) => String(r.devices)).map(
        (byN) => [byN[0]!.devices, median(byN.map((r) => r.latencyMs)) / 1000] as const,
      ),
    }));
  return lineChart({
    title: `Default plan's run time vs devices (${shares.join(" / ")} core each)`,
    xLabel: "devices",
    yLabel: "run time, s (log)",
    logY: true,
    series,
  });
}

/**
 * How long a grid will take, said before it starts: a rough figure from the network's
 * size, so that a person can choose a smaller grid or model before waiting an hour.
 * Calibrated on the lab's YOLOv2 runs (docs/results/): it is an order of magnitude,
 * not a prediction of any one run (the planner's own prediction is in each record).
 */
import type { Network } from "../../dnn/network.js";
import { FLOAT32_BYTES } from "../../core/dtypes.js";
import type { Setting } from "./grid.js";
import { deviceSettings } from "./planner-check.js";

/** Multiply-adds per second one core gets through a device's share, everything counted (YOLOv2: 31.5 G in 1.0 s on 1.6 cores). */
export const EFFECTIVE_GMACS_PER_CORE = 20;
/** Per request: the source's decoding, scheduling and result, beside compute and links. */
const REQUEST_OVERHEAD_S = 0.5;
/** Per plan: planning and every device reporting ready, beside the shards' transfer. */
const PLAN_OVERHEAD_S = 3;
/** Per lab (and per bandwidth change): namespaces, link probes, processes starting. */
const LAB_OVERHEAD_S = 15;

export interface NetworkSize {
  readonly mults: number;
  /** Every layer's output, bytes: what a split moves at most once across the links, roughly. */
  readonly activationBytes: number;
  readonly weightBytes: number;
}

export function networkSize(network: Network): NetworkSize {
  return {
    mults: network.totalMults,
    activationBytes: network.layers.reduce((sum, l) => sum + l.stats.outputs, 0) * FLOAT32_BYTES,
    weightBytes: network.totalParams * FLOAT32_BYTES,
  };
}

/** Seconds one setting takes: each plan's shards over the slowest link, one warm-up and `repeats` requests. */
export function settingSeconds(setting: Setting, size: NetworkSize, o: { repeats: number; cpuShare: number }): number {
  const n = setting.devices;
  const devices = deviceSettings(setting.profile, n, setting.bandwidthMbit, o.cpuShare);
  const slowestMbit = Math.min(...devices.bandwidthMbit);
  const slowestShare = Math.min(...devices.cpuShare);
  const linkSeconds = (bytes: number): number => (n === 1 ? 0 : (bytes * 8) / (slowestMbit * 1e6));
  const request =
    size.mults / (n * slowestShare * EFFECTIVE_GMACS_PER_CORE * 1e9) +
    linkSeconds(size.activationBytes / n) +
    REQUEST_OVERHEAD_S;
  const plan = PLAN_OVERHEAD_S + linkSeconds(size.weightBytes / n);
  return LAB_OVERHEAD_S + setting.schemes.length * (plan + (o.repeats + 1) * request);
}

export interface GridEstimate {
  readonly settings: number;
  readonly plans: number;
  readonly timedRuns: number;
  readonly seconds: number;
}

export function estimateGrid(
  grid: readonly Setting[],
  size: NetworkSize,
  o: { repeats: number; cpuShare: number },
): GridEstimate {
  const plans = grid.reduce((sum, s) => sum + s.schemes.length, 0);
  return {
    settings: grid.length,
    plans,
    timedRuns: plans * o.repeats,
    seconds: grid.reduce((sum, s) => sum + settingSeconds(s, size, o), 0),
  };
}

/** "12 settings, 118 plans, 354 timed runs (+ one warm-up per plan), roughly 2.5 h". */
export function estimateText(e: GridEstimate): string {
  const time =
    e.seconds >= 5400 ? `${(e.seconds / 3600).toFixed(1)} h` : `${Math.max(1, Math.round(e.seconds / 60))} min`;
  return `${e.settings} settings, ${e.plans} plans, ${e.timedRuns} timed runs (+ one warm-up per plan), roughly ${time}`;
}

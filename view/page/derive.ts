/** The plan's rows and totals and a request's timeline, as the page shows them (no DOM). */
import type { Plan, StageTrace } from "./wire.js";

export interface PlanRow {
  layers: string;
  scheme: string;
  devices: string[];
  weightsPerDevice?: number;
  modelledBytes?: number;
}

export interface PlanTotals {
  layers: number;
  devices: number;
  commBytes: number;
  /** The link whose stages take the most predicted time, and that time. */
  busiestLink?: { link: string; seconds: number };
  predictedSeconds?: number;
}

const unique = (ids: readonly string[]) => [...new Set(ids)];

const bytesPerElement = (plan: Plan) => plan.totals?.bytesPerElement ?? plan.inputs?.bytesPerElement ?? 4;

/** One row for the FTP stage (its layers run as tiles), then one per later layer. */
export function planRows(plan: Plan): PlanRow[] {
  const bpe = bytesPerElement(plan);
  const rows: PlanRow[] = [];
  if (plan.ftp) {
    const { end, grid, elements, weights, tiles } = plan.ftp;
    rows.push({
      layers: `0–${end - 1}`,
      scheme: `FTP ${grid.rows}×${grid.cols}`,
      devices: unique(tiles.map((t) => t.workerId)),
      ...(weights !== undefined && { weightsPerDevice: weights }),
      modelledBytes: elements * bpe,
    });
  }
  for (const step of plan.steps) {
    rows.push({
      layers: String(step.layer),
      scheme: step.scheme.toUpperCase(),
      devices: step.parts ? unique(step.parts.map((p) => p.workerId)) : ["source"],
      ...(step.weightsPerDevice !== undefined && { weightsPerDevice: step.weightsPerDevice }),
      ...(step.elements !== undefined && { modelledBytes: step.elements * bpe }),
    });
  }
  return rows;
}

export function planTotals(plan: Plan): PlanTotals {
  const byLink = new Map<string, number>();
  for (const s of plan.prediction?.stages ?? [])
    if (/link/.test(s.bound)) byLink.set(s.bound, (byLink.get(s.bound) ?? 0) + s.seconds);
  const busiest = [...byLink.entries()].sort((a, b) => b[1] - a[1])[0];
  return {
    layers: plan.model.layers,
    devices: plan.devices.length,
    commBytes: plan.totals?.commBytes ?? plan.cost.bytes,
    ...(busiest && { busiestLink: { link: busiest[0], seconds: busiest[1] } }),
    ...(plan.prediction && { predictedSeconds: plan.prediction.seconds }),
  };
}

/** One bar of a timeline: on device `device`, from `start` to `end` ms after the request began. */
export interface TimelineBar {
  device: string;
  stage: number;
  label: string;
  kind: "compute" | "waiting";
  start: number;
  end: number;
}

/**
 * Stages run one after another, from the end of the source's preprocessing: each device
 * of a stage computes for its computeMs and waits for the link (scatter, gather) the rest
 * of the stage's wall time. A stage the source runs alone is compute on the source.
 */
export function timeline(stages: readonly (StageTrace | undefined)[], preprocessMs: number): TimelineBar[] {
  const bars: TimelineBar[] = [];
  let at = preprocessMs;
  stages.forEach((stage, index) => {
    if (!stage) return;
    const label = `${stage.scheme} ${stage.layers[0] === stage.layers[1] ? stage.layers[0] : stage.layers.join("–")}`;
    const devices = stage.devices.length ? stage.devices : [{ workerId: "source", computeMs: stage.wallMs }];
    for (const d of devices) {
      const compute = Math.min(d.computeMs, stage.wallMs);
      bars.push({ device: d.workerId, stage: index, label, kind: "compute", start: at, end: at + compute });
      if (compute < stage.wallMs)
        bars.push({
          device: d.workerId,
          stage: index,
          label,
          kind: "waiting",
          start: at + compute,
          end: at + stage.wallMs,
        });
    }
    at += stage.wallMs;
  });
  return bars;
}

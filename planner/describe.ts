/**
 * Plans as tables a person reads. `describePlan` follows the paper's Table 2: per layer
 * its kind, M, K, Q, scheme, F_n and C, then the totals and what each worker holds.
 * `describeComparison` sets the variants of compare.ts side by side.
 */
import type { Network } from "../dnn/network.js";
import type { Variant } from "./compare.js";
import type { Grid } from "./ftp.js";
import type { Plan } from "./schema.js";
import { STRATEGY_TEXT } from "./schemes.js";
import { stageWire, WIRE_NAME } from "./wire.js";

/** "1 tile", "4 tiles". */
const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`;

const MB = 1e6;
const fixed = (n: number, digits: number) => n.toFixed(digits);
const millions = (n: number) => fixed(n / 1e6, 2);
const percent = (fraction: number) => `${fixed(100 * fraction, 1)} %`;
const ftpText = (ftp: { end: number; grid: Grid } | null) =>
  ftp ? `0–${ftp.end - 1} on ${ftp.grid.rows}×${ftp.grid.cols}` : "none";

/** Columns aligned by `align`: "l" for text, "r" for numbers, one letter per column. */
function table(header: string[], rows: string[][], align: string): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (align[i] === "l" ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** One line on how the FTP boundary and grid came about. */
export function ftpChoiceText(plan: Plan): string {
  const bytes = plan.totals?.bytesPerElement ?? 4;
  const where = plan.ftp
    ? `layers 0–${plan.ftp.end - 1} on a ${plan.ftp.grid.rows}×${plan.ftp.grid.cols} grid`
    : "none";
  switch (plan.objective?.ftp) {
    case "min-largest-memory":
      return `FTP: ${where}, chosen to minimise the largest per-device memory, weights + peak feature maps (DeepThings' criterion): ${fixed((plan.objective.largestMemoryElements * bytes) / MB, 1)} MB`;
    case "min-comm":
      return `FTP: ${where}, chosen to minimise the modelled communication C`;
    case "min-latency":
      return `FTP: ${where}, chosen with the devices, the division and the schemes for the least predicted time: ${fixed((plan.prediction?.seconds ?? 0) * 1000, 0)} ms`;
    default:
      return `FTP: ${where}${plan.ftp ? ", as given" : ""}`;
  }
}

/** `baselineElements`: C of LOP everywhere on the same FTP stage, to show what the schemes saved. */
export function describePlan(plan: Plan, network: Network, baselineElements?: number): string {
  const bytes = plan.totals?.bytesPerElement ?? 4;
  const mb = (elements: number) => fixed((elements * bytes) / MB, 2);
  const lines: string[] = [];
  const ftp = plan.ftp;
  const n = plan.devices.length;
  lines.push(
    `plan ${plan.id}: ${plan.model.name} on ${count(n, "worker")} (${plan.devices.map((d) => d.workerId).join(", ")})`,
  );
  if (plan.inputs) lines.push(`scheme: ${plan.inputs.strategy} (${STRATEGY_TEXT[plan.inputs.strategy]})`);
  lines.push(ftpChoiceText(plan));
  lines.push("");

  const rows: string[][] = [];
  const dims = (l: number) => {
    const layer = network.layers[l]!;
    return [
      String(l),
      layer.kind,
      String(layer.stats.inputs),
      String(layer.stats.outputs),
      String(layer.stats.weights),
    ];
  };
  if (ftp) {
    for (let l = 0; l < ftp.end; l++) rows.push([...dims(l), "FTP", String(network.layers[l]!.stats.weights), ""]);
    rows.push([
      `0–${ftp.end - 1}`,
      `FTP stage: ${count(ftp.tiles.length, "tile")} on ${count(new Set(ftp.tiles.map((t) => t.workerId)).size, "device")}`,
      "",
      "",
      "",
      "scatter+gather",
      "",
      mb(ftp.elements),
    ]);
  }
  for (const step of plan.steps) {
    if (step.scheme === "source" || step.scheme === "carry") {
      rows.push([...dims(step.layer), step.scheme, "", ""]);
      continue;
    }
    const scheme = `${step.scheme.toUpperCase()}${step.reuse ? " (reuse)" : ""}`;
    rows.push([
      ...dims(step.layer),
      scheme,
      step.weightsPerDevice === undefined ? "" : String(step.weightsPerDevice),
      mb(step.elements),
    ]);
  }
  lines.push(...table(["layer", "kind", "M", "K", "Q", "scheme", "F_n", "C [MB]"], rows, "llrrrlrr"));
  lines.push("");

  const totals = plan.totals;
  if (totals) {
    lines.push(
      `total: F_n ${millions(totals.weightsPerDevice)} M weights (${fixed((totals.weightsPerDevice * bytes) / MB, 1)} MB) on the fullest worker, ` +
        `T ${fixed(totals.multiplications / 1e9, 2)} G multiplications on the critical path, ` +
        `memory ${fixed((totals.memoryPerDevice * bytes) / MB, 1)} MB with feature maps`,
    );
  }
  const saved =
    baselineElements && baselineElements > 0
      ? `; LOP everywhere: ${mb(baselineElements)} MB, so this plan saves ${percent((baselineElements - plan.cost.elements) / baselineElements)}`
      : "";
  lines.push(`modelled traffic C: ${mb(plan.cost.elements)} MB (${millions(plan.cost.elements)} M elements)${saved}`);
  lines.push("per worker:");
  for (const d of plan.cost.perDevice) {
    const budget = plan.devices.find((x) => x.workerId === d.workerId)?.memoryBudgetBytes;
    const features =
      d.featureElements === undefined ? "" : `, features ${fixed((d.featureElements * bytes) / MB, 1)} MB`;
    lines.push(
      `  ${d.workerId.padEnd(12)} weights ${millions(d.weights)} M, shards ${fixed(d.shardBytes / MB, 1)} MB${budget ? ` of ${fixed(budget / MB, 1)} MB` : ""}${features}, ${fixed(d.mults / 1e9, 2)} G mult`,
    );
  }
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}

/** The variants side by side: C in MB and what each saves against LOP everywhere. */
export function describeComparison(
  model: string,
  devices: number,
  variants: readonly Variant[],
  bytesPerElement: number,
  ftpLine: string,
): string {
  const mb = (elements: number, digits: number) => fixed((elements * bytesPerElement) / MB, digits);
  const rows = variants.map((v) =>
    v.commElements === undefined
      ? [v.variant, "cannot be planned (below)"]
      : [
          v.variant,
          ftpText(v.ftp),
          mb(v.weightsPerDevice!, 1),
          fixed(v.multiplications! / 1e9, 2),
          mb(v.commElements, 2),
          v.variant === "single device" ? "–" : v.saving === undefined ? "?" : percent(v.saving),
        ],
  );
  const lines = [`${model} on ${devices} devices: modelled per inference, ${bytesPerElement} bytes per element`, ""];
  lines.push(...table(["variant", "FTP", "F_n [MB]", "T [G mult]", "C [MB]", "saving vs all-LOP"], rows, "llrrrr"));
  lines.push("");
  for (const v of variants) if (v.problem) lines.push(`${v.variant}: ${v.problem}`);
  lines.push(ftpLine);
  lines.push("saving: against LOP on every layer after the same FTP stage (for paper, its own layers 0–11).");
  const paper = variants.find((v) => v.variant === "paper" && v.lopElements !== undefined);
  if (paper)
    lines.push(
      `paper's all-LOP on layers 0–11 FTP: C = ${mb(paper.lopElements!, 2)} MB (the paper measured 78.1 MB all-LOP, 68.1 MB fused: 14.8 %).`,
    );
  return lines.join("\n");
}

/** `plan --explain`: the predicted time of every stage, its phases and what bounds it, then the total. */
export function describePrediction(plan: Plan): string {
  const p = plan.prediction;
  if (!p) return "no prediction: the plan was made before edgefuse predicted time";
  const ms = (s: number) => fixed(s * 1000, 1);
  const wireOf = (first: number, scheme: string): string => {
    if (scheme === "source") return "";
    const w = stageWire(plan, first);
    return `${w.image ? "image" : WIRE_NAME[w.input]} → ${WIRE_NAME[w.output]}`;
  };
  const rows = p.stages
    .filter((s) => s.seconds >= 0.0005 || s.scheme !== "source")
    .map((s) => [
      s.layers[0] === s.layers[1] ? String(s.layers[0]) : `${s.layers[0]}–${s.layers[1]}`,
      s.scheme.toUpperCase(),
      wireOf(s.layers[0], s.scheme),
      ms(s.scatterSeconds),
      ms(s.computeSeconds),
      ms(s.gatherSeconds),
      ms(s.messageSeconds),
      ms(s.seconds),
      fixed((s.scatterBytes + s.gatherBytes) / MB, 2),
      s.bound,
    ]);
  const broker =
    p.broker === "source" ? "on the source device" : `on its own host at ${fixed(p.broker.bitsPerSec / 1e6, 1)} Mbit/s`;
  const busiest = new Map<string, number>();
  for (const s of p.stages) busiest.set(s.bound, (busiest.get(s.bound) ?? 0) + s.seconds);
  const [bound, boundSeconds] = [...busiest].sort((a, b) => b[1] - a[1])[0] ?? ["nothing", 0];
  return [
    `predicted time (${p.objective === "latency" ? "the plan minimises it" : "the plan minimises C"}; broker ${broker}; wire ${plan.wire?.choice ?? "f32"}):`,
    ...table(
      ["layers", "stage", "wire", "scatter", "compute", "gather", "fixed", "ms", "MB", "bound by"],
      rows,
      "lllrrrrrrl",
    ),
    `source before and after the stages: ${ms(p.prePostSeconds)} ms`,
    `total: ${ms(p.seconds)} ms; most of it bound by ${bound} (${ms(boundSeconds)} ms over its stages)`,
  ].join("\n");
}

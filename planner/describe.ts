/** A plan as a table a person reads: per layer the scheme and its modelled traffic, then per worker. */
import type { Network } from "../dnn/network.js";
import { BYTES_PER_ELEMENT } from "./costs.js";
import type { Plan } from "./schema.js";

const mb = (elements: number) => ((elements * BYTES_PER_ELEMENT) / 1e6).toFixed(2);
const millions = (n: number) => (n / 1e6).toFixed(2);

/** `baselineElements`: the same plan with LOP everywhere, to show what fusion saved. */
export function describePlan(plan: Plan, network: Network, baselineElements?: number): string {
  const lines: string[] = [];
  const ftp = plan.ftp;
  lines.push(
    `plan ${plan.id}: ${plan.model.name} on ${plan.devices.length} worker${plan.devices.length === 1 ? "" : "s"} (${plan.devices.map((d) => d.workerId).join(", ")})`,
  );
  lines.push(ftp ? `FTP: layers 0–${ftp.end - 1} as ${ftp.grid.rows}×${ftp.grid.cols} tiles` : "FTP: none");
  lines.push("");
  lines.push(`${"layer".padEnd(7)}${"kind".padEnd(15)}${"scheme".padEnd(10)}${"reuse".padEnd(7)}${"C [MB]".padStart(8)}`);
  if (ftp) lines.push(`${`0–${ftp.end - 1}`.padEnd(7)}${"(tiles)".padEnd(15)}${"FTP".padEnd(10)}${"".padEnd(7)}${mb(ftp.elements).padStart(8)}`);
  for (const step of plan.steps) {
    const kind = network.layers[step.layer]?.kind ?? "?";
    const partitioned = step.scheme !== "source" && step.scheme !== "carry";
    const scheme = step.scheme === "source" || step.scheme === "carry" ? step.scheme : step.scheme.toUpperCase();
    const reuse = partitioned && step.reuse ? "yes" : "";
    lines.push(`${String(step.layer).padEnd(7)}${kind.padEnd(15)}${scheme.padEnd(10)}${reuse.padEnd(7)}${(partitioned ? mb(step.elements) : "").padStart(8)}`);
  }
  lines.push("");
  const saved = baselineElements && baselineElements > 0 ? `; LOP everywhere: ${mb(baselineElements)} MB, so this plan saves ${((100 * (baselineElements - plan.cost.elements)) / baselineElements).toFixed(1)} %` : "";
  lines.push(`modelled traffic C: ${mb(plan.cost.elements)} MB (${millions(plan.cost.elements)} M elements)${saved}`);
  lines.push("per worker:");
  for (const d of plan.cost.perDevice) {
    const budget = plan.devices.find((x) => x.workerId === d.workerId)?.memoryBudgetBytes;
    lines.push(
      `  ${d.workerId.padEnd(12)} weights ${millions(d.weights)} M, shards ${(d.shardBytes / 1e6).toFixed(1)} MB${budget ? ` of ${(budget / 1e6).toFixed(1)} MB` : ""}, ${(d.mults / 1e9).toFixed(2)} G mult`,
    );
  }
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}

/**
 * Planning speed on YOLOv2 608, 6 devices: the ILP over every weighted layer (no FTP),
 * a whole plan with the default FTP search, and `plan --compare`'s variants. The planner
 * runs again whenever a device comes or goes, so these times are part of a re-plan.
 */
import { modelCfg } from "../core/paths.js";
import { loadNetwork } from "../dnn/network.js";
import { makePlan } from "../planner/build.js";
import { compareVariants } from "../planner/compare.js";
import { optimalSchemes } from "../planner/ilp.js";
import { partitionUnits } from "../planner/units.js";
import { machine, medianMs, writeSection } from "./report.js";

const DEVICES = 6;

export async function benchPlanner(o: { runs: number }): Promise<void> {
  const network = loadNetwork(modelCfg("yolov2"));
  const devices = Array.from({ length: DEVICES }, (_, i) => ({ workerId: `w${i + 1}` }));
  const units = partitionUnits(network, 0);
  const rows: [string, number][] = [
    [`ILP over all ${units.length} weighted layers (no FTP)`, medianMs(o.runs, () => optimalSchemes(units, DEVICES))],
    ["whole plan, default FTP search (depth × grid)", medianMs(o.runs, () => makePlan(network, { devices }))],
    ["`plan --compare`: every variant", medianMs(o.runs, () => compareVariants(network, { devices }))],
  ];
  for (const [what, ms] of rows) console.log(`${what}: ${ms.toFixed(0)} ms`);
  writeSection(
    "planner",
    `## Planner: YOLOv2 608, ${DEVICES} devices\n\n${new Date().toISOString().slice(0, 10)} · ${machine()}\n\n` +
      `Median of ${o.runs} runs in one process after a warm-up (the goal: well under a second each, since every arrival or departure re-plans).\n\n` +
      `| work | median |\n|---|---|\n${rows.map(([what, ms]) => `| ${what} | ${ms.toFixed(0)} ms |`).join("\n")}\n`,
  );
}

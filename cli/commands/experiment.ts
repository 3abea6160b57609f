/**
 * `edgefuse experiment`: the paper's Tables 1 and 2 in namespace labs. One lab per
 * device count; its bandwidths run one after another (lab.setBandwidth, processes
 * restarted). Each timed request prints one progress line with an ETA; the output
 * directory is rewritten after every setting, so an interrupted run keeps its data.
 */
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../core/paths.js";
import { loadNetwork } from "../../dnn/network.js";
import { runSchemes, type RunRecord } from "../../lab/experiment.js";
import { experimentGrid, type Setting } from "../../lab/experiments/grid.js";
import { writeReport } from "../../lab/experiments/report.js";
import { LabSession } from "../../lab/session.js";
import { defaultCpuShare } from "../../lab/setup.js";
import { defineCommand } from "../command.js";
import { devicesText } from "../devices.js";
import { defineFlags } from "../flags.js";
import { labModelFlags, modelTogether, prepareLab, repeatsFlag } from "./lab.js";
import { FLOAT32_BYTES } from "../../core/dtypes.js";

const flags = defineFlags({
  out: {
    value: "DIR",
    description: "where runs.csv, table1.md, table2.md and the plots go",
    default: join(PACKAGE_ROOT, "docs", "results", new Date().toISOString().slice(0, 10)),
  },
  repeats: repeatsFlag("timed requests per plan variant, after one warm-up"),
  quick: { description: "a small grid: 6 and 3 devices at 100 mbit, fewer variants" },
  ...labModelFlags,
});

/** Settings grouped by device count, in grid order: one lab each. */
function byDevices(grid: readonly Setting[]): Setting[][] {
  const groups = new Map<number, Setting[]>();
  for (const s of grid) groups.set(s.devices, [...(groups.get(s.devices) ?? []), s]);
  return [...groups.values()];
}

export const experimentCommand = defineCommand({
  name: "experiment",
  flags,
  rules: [modelTogether],
  async run(o) {
    const model = prepareLab("experiment", o);
    const totalWeightsBytes = loadNetwork(model.cfg).totalParams * FLOAT32_BYTES;
    const grid = experimentGrid(o.quick);
    const total = grid.reduce((a, s) => a + s.schemes.length * o.repeats, 0);
    const records: RunRecord[] = [];
    const started = Date.now();
    const log = (line: string): void => void process.stderr.write(`${line}\n`);
    log(`experiment: ${grid.length} settings, ${total} timed runs (+ one warm-up per plan) → ${o.out}`);
    const progress = (r: RunRecord): void => {
      records.push(r);
      const elapsed = (Date.now() - started) / 1000;
      const eta = (elapsed / records.length) * (total - records.length);
      log(
        `[${records.length}/${total}] N=${r.devices} ${r.bandwidthMbit} mbit ${r.scheme} #${r.repeat}: ${(r.latencyMs / 1000).toFixed(2)} s (bound ${(r.lowerBoundMs / 1000).toFixed(2)} s, busiest link ${(r.bytesBusiestLink / 1e6).toFixed(1)} MB) · elapsed ${(elapsed / 60).toFixed(1)} min, ETA ${(eta / 60).toFixed(1)} min`,
      );
    };

    for (const settings of byDevices(grid)) {
      const devices = settings[0]!.devices;
      const cpuShare = o.cpu ?? defaultCpuShare(devices);
      const session = await LabSession.open({
        devices,
        bandwidthMbit: settings[0]!.bandwidthMbit,
        cpuShare,
        ...model,
        image: o.image,
        log,
      });
      try {
        for (const setting of settings) {
          if (setting.bandwidthMbit !== session.bandwidthMbit) await session.setBandwidth(setting.bandwidthMbit);
          const rates = session.linkRates.map((r) => r.mbit);
          log(
            `lab ${session.lab.id}: ${devicesText(devices)}, ${setting.bandwidthMbit} mbit (measured ${rates.length ? `${Math.min(...rates).toFixed(1)}–${Math.max(...rates).toFixed(1)}` : "no links"}), ${cpuShare} core each`,
          );
          await runSchemes(session, {
            schemes: setting.schemes,
            repeats: o.repeats,
            devices,
            cpuShare,
            log,
            onRecord: progress,
          });
          writeReport(o.out, records, totalWeightsBytes);
        }
      } finally {
        await session.close();
      }
    }
    log(`experiment: done in ${((Date.now() - started) / 60000).toFixed(1)} min; results in ${o.out}`);
  },
});

/**
 * Runs a grid of settings in namespace labs and keeps its report up to date. Settings
 * of identical devices that differ only in bandwidth share one lab (its links are set
 * to each rate in turn, processes restarted); a heterogeneous setting has a link of its
 * own rate, which a change of the common rate would undo, so it gets a lab of its own.
 */
import { LabError } from "../../core/errors.js";
import { runSchemes, type RunRecord } from "../experiment.js";
import { LAB_MEMORY_MB, LabSession, type SessionOptions } from "../session.js";
import type { Setting } from "./grid.js";
import { deviceSettings } from "./planner-check.js";
import { writeReport, type ReportOptions } from "./report.js";

export interface GridRun {
  readonly grid: readonly Setting[];
  readonly repeats: number;
  /** Every device's share (a heterogeneous profile halves one). */
  readonly cpuShare: number;
  readonly session: Omit<SessionOptions, "devices" | "bandwidthMbit" | "cpuShare" | "log">;
  readonly report: Omit<ReportOptions, "refused">;
  readonly out: string;
  readonly log: (line: string) => void;
}

/** Consecutive settings that can share one lab: identical devices, same count. */
export function labGroups(grid: readonly Setting[]): Setting[][] {
  const groups: Setting[][] = [];
  for (const s of grid) {
    const last = groups.at(-1)?.[0];
    const shares = last && s.profile === "identical" && last.profile === "identical" && last.devices === s.devices;
    if (shares) groups.at(-1)!.push(s);
    else groups.push([s]);
  }
  return groups;
}

const settingText = (s: Setting): string => `${s.devices} devices, ${s.bandwidthMbit} mbit, ${s.profile}`;

/** Every setting of the grid, the report rewritten after each; rejects at the end if any variant could not run. */
export async function runGrid(o: GridRun): Promise<RunRecord[]> {
  const total = o.grid.reduce((a, s) => a + s.schemes.length * o.repeats, 0);
  const records: RunRecord[] = [];
  const refused: string[] = [];
  const started = Date.now();
  const progress = (r: RunRecord): void => {
    records.push(r);
    const elapsed = (Date.now() - started) / 1000;
    const eta = (elapsed / records.length) * (total - records.length);
    const predicted = r.predictedMs === null ? "" : `, predicted ${(r.predictedMs / 1000).toFixed(2)} s`;
    o.log(
      `[${records.length}/${total}] N=${r.devices} ${r.bandwidthMbit} mbit ${r.profile} ${r.scheme} #${r.repeat}: ${(r.latencyMs / 1000).toFixed(2)} s${predicted} (bound ${(r.lowerBoundMs / 1000).toFixed(2)} s) · elapsed ${(elapsed / 60).toFixed(1)} min, ETA ${(eta / 60).toFixed(1)} min`,
    );
  };
  for (const group of labGroups(o.grid)) {
    const first = group[0]!;
    const devices = deviceSettings(first.profile, first.devices, first.bandwidthMbit, o.cpuShare);
    const session = await LabSession.open({
      ...o.session,
      // One device runs the whole network: it is given the memory to hold it (the
      // budgets that keep the others from doing so are what partitioning is for).
      ...(first.devices === 1 ? { memoryMb: LAB_MEMORY_MB } : {}),
      devices: first.devices,
      bandwidthMbit: devices.bandwidthMbit,
      cpuShare: devices.cpuShare,
      log: o.log,
    });
    try {
      for (const setting of group) {
        if (setting !== first) await session.setBandwidth(setting.bandwidthMbit);
        const rates = session.measuredLinkMbit.flatMap((l) => [l.up, l.down]).filter(Number.isFinite);
        o.log(
          `lab ${session.lab.id}: ${settingText(setting)}, ${session.topology} topology (links measured ${rates.length ? `${Math.min(...rates).toFixed(1)}–${Math.max(...rates).toFixed(1)}` : "–"} mbit)`,
        );
        await runSchemes(session, {
          schemes: setting.schemes,
          repeats: o.repeats,
          devices: setting.devices,
          profile: setting.profile,
          log: o.log,
          onRecord: progress,
          onRefused: (scheme, message) => {
            refused.push(`${scheme.label} at ${settingText(setting)}: ${message.split("\n")[0]}`);
            o.log(`${scheme.label}: not run: ${message}`);
          },
        });
        writeReport(o.out, records, { ...o.report, refused });
      }
    } finally {
      await session.close();
    }
  }
  o.log(`experiment: done in ${((Date.now() - started) / 60000).toFixed(1)} min; results in ${o.out}`);
  if (refused.length)
    throw new LabError(`${refused.length} plan variant(s) could not run (listed in the report): ${refused[0]}`);
  return records;
}

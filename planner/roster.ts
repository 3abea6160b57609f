/**
 * From the devices' presence to the devices a plan is made for. A device announces its
 * whole memory for edgefuse (`--memory`) and what its process holds before any shard
 * (its measured baseline: node, onnxruntime, the MQTT client); what its weights and
 * activations may use — its budget in the plan — is the difference. A device whose
 * memory does not exceed its baseline can hold nothing and is left out, with why.
 */
import type { Presence } from "../broker/messages.js";
import type { PlanDevice } from "./schema.js";

export interface RosterDevices {
  /** Sorted by id; the source marked. */
  readonly devices: PlanDevice[];
  /** One line per device left out, naming it and both numbers. */
  readonly refused: string[];
}

const mb = (bytes: number) => `${Number((bytes / 1e6).toFixed(1))} MB`;

/** The budget a device's weights and activations may use: its memory less its baseline (none announced: 0). */
export const budgetOf = (p: Pick<Presence, "memoryBudgetBytes" | "baselineBytes">): number =>
  p.memoryBudgetBytes - (p.baselineBytes ?? 0);

export function rosterDevices(roster: Iterable<Presence>): RosterDevices {
  const devices: PlanDevice[] = [];
  const refused: string[] = [];
  for (const p of [...roster].sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0))) {
    const budget = budgetOf(p);
    if (budget <= 0) {
      refused.push(
        `device ${p.workerId} has ${mb(p.memoryBudgetBytes)} of memory, not more than its baseline of ${mb(p.baselineBytes ?? 0)} (node, onnxruntime and MQTT before any weights): left out`,
      );
      continue;
    }
    devices.push({
      workerId: p.workerId,
      memoryBudgetBytes: budget,
      gmacPerSec: p.gmacPerSec,
      // Link rates as announced; absent stays absent (not limited or not known).
      ...(p.uplinkBitsPerSec === undefined ? {} : { uplinkBitsPerSec: p.uplinkBitsPerSec }),
      ...(p.downlinkBitsPerSec === undefined ? {} : { downlinkBitsPerSec: p.downlinkBitsPerSec }),
      ...(p.role === "source" ? { role: "source" as const } : {}),
    });
  }
  return { devices, refused };
}

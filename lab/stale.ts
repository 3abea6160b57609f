/**
 * Leftovers of runs that died without tearing down (SIGKILL, power loss, a crash in
 * native code): namespaces and cgroups whose owner pid, encoded in their name, is no
 * longer alive. Labs of live processes — another experiment running right now — are
 * left alone.
 */
import { readdirSync } from "node:fs";
import { LabError } from "../core/errors.js";
import { CPU_CGROUP_ROOT, DEFAULT_PREFIX, PREFIX_PATTERN, parseLabName } from "./names.js";
import { runSync } from "./sh.js";
import { Ledger, teardownSync } from "./teardown.js";

/** Tear down every lab named `<prefix>-...` whose owner process is gone; returns their ids. */
export function cleanupStale(prefix = DEFAULT_PREFIX): string[] {
  if (!PREFIX_PATTERN.test(prefix)) throw new LabError(`cleanupStale: bad prefix '${prefix}'`);
  const ledgers = new Map<string, Ledger>();
  const ledgerFor = (name: string): Ledger | undefined => {
    const parsed = parseLabName(name, prefix);
    if (!parsed || isAlive(parsed.ownerPid)) return undefined;
    const found = ledgers.get(parsed.labId);
    if (found) return found;
    const ledger = new Ledger(parsed.labId);
    ledgers.set(parsed.labId, ledger);
    return ledger;
  };

  for (const name of listNamespaces()) ledgerFor(name)?.add({ kind: "netns", name });
  for (const name of listDirs(CPU_CGROUP_ROOT)) {
    const ledger = ledgerFor(name);
    if (!ledger) continue;
    const path = `${CPU_CGROUP_ROOT}/${name}`;
    // Parent before children, as createLab records them: teardown removes in reverse.
    ledger.add({ kind: "cgroup", path });
    for (const child of listDirs(path)) ledger.add({ kind: "cgroup", path: `${path}/${child}` });
  }
  for (const ledger of ledgers.values()) teardownSync(ledger);
  return [...ledgers.keys()];
}

function listNamespaces(): string[] {
  // Lines look like "name" or "name (id: 3)".
  return runSync(["ip", "netns", "list"])
    .stdout.split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter(Boolean);
}

function listDirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // exists, just not ours
  }
}

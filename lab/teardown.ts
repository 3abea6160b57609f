/**
 * Everything a lab creates is written into its Ledger the moment it exists, and
 * teardown undoes the ledger: kill every process, delete the namespaces (which takes
 * the bridge and veths with them), remove the cgroups. The same code serves
 * lab.destroy(), a failure halfway through createLab, signals, process exit and
 * cleanupStale — so it is synchronous (an "exit" handler cannot await) and it keeps
 * going past a failed step, reporting every failure at the end.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { LabError, errorMessage } from "../core/errors.js";
import { cgroupPids, removeCpuGroup } from "./cgroup.js";
import { runSync } from "./sh.js";

export type Resource =
  | { readonly kind: "netns"; readonly name: string }
  | { readonly kind: "cgroup"; readonly path: string };

export class Ledger {
  readonly resources: Resource[] = [];
  readonly children = new Set<ChildProcess>();
  /** Set by teardown; a lab whose ledger is closed must not be used or grown. */
  closed = false;
  constructor(readonly labId: string) {}
  /**
   * Record a resource that now exists. If a signal tore the lab down while it was
   * being built, the resource is still recorded (so the builder's own teardown removes
   * it) and the build is stopped.
   */
  add(resource: Resource): void {
    this.resources.push(resource);
    if (this.closed) throw new LabError(`lab ${this.labId} was torn down while it was being built`);
  }
}

/** How long teardown waits for killed processes to leave their cgroups. */
const REAP_TIMEOUT_MS = 3000;

export function teardownSync(ledger: Ledger): void {
  const problems: string[] = [];
  const namespaces = ledger.resources.flatMap((r) => (r.kind === "netns" ? [r.name] : []));
  // Children first in the list were made after their parents: reverse order empties a parent last.
  const cgroups = ledger.resources.flatMap((r) => (r.kind === "cgroup" ? [r.path] : [])).reverse();

  const killAll = (): void => {
    for (const child of ledger.children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const path of cgroups) for (const pid of cgroupPids(path)) kill(pid);
    for (const ns of namespaces) for (const pid of netnsPids(ns)) kill(pid);
  };
  killAll();

  const deadline = Date.now() + REAP_TIMEOUT_MS;
  while (cgroups.some((p) => cgroupPids(p).length > 0) && Date.now() < deadline) {
    sleepSync(20);
    killAll(); // a process that was forking while we looked has new children now
  }

  for (const ns of [...namespaces].reverse()) {
    if (!existsSync(`/run/netns/${ns}`)) continue;
    try {
      runSync(["ip", "netns", "del", ns]);
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  for (const path of cgroups) {
    while (!removeCpuGroup(path) && Date.now() < deadline) sleepSync(20);
    if (existsSync(path))
      problems.push(`cgroup ${path} still holds pids ${cgroupPids(path).join(",") || "(none listed)"}`);
  }
  ledger.resources.length = 0;
  ledger.children.clear();
  ledger.closed = true;
  if (problems.length)
    throw new LabError(`teardown of lab ${ledger.labId} left things behind:\n  ${problems.join("\n  ")}`);
}

function netnsPids(ns: string): number[] {
  if (!existsSync(`/run/netns/${ns}`)) return [];
  try {
    return runSync(["ip", "netns", "pids", ns]).stdout.split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone (ESRCH): that is the goal.
  }
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

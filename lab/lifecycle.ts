/**
 * Labs live in the kernel, not in this process: if the process dies without tearing
 * them down, namespaces and cgroups stay behind. So while any lab (or a lab still
 * being built) exists, SIGINT, SIGTERM and process exit tear it down first. After a
 * signal the signal is raised again so the process still ends as it would have —
 * unless someone else is listening for it, in which case ending is their call.
 */
import { errorMessage } from "../core/errors.js";
import { teardownSync, type Ledger } from "./teardown.js";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;
const live = new Set<Ledger>();

export function register(ledger: Ledger): void {
  if (live.size === 0) install();
  live.add(ledger);
}

export function unregister(ledger: Ledger): void {
  live.delete(ledger);
  if (live.size === 0) uninstall();
}

function teardownAll(): void {
  for (const ledger of live) {
    try {
      teardownSync(ledger);
    } catch (err) {
      process.stderr.write(`${errorMessage(err)}\n`);
    }
  }
  live.clear();
  uninstall();
}

function onSignal(signal: NodeJS.Signals): void {
  teardownAll();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function onExit(): void {
  teardownAll();
}

function install(): void {
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on("exit", onExit);
}

function uninstall(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off("exit", onExit);
}

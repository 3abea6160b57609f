/**
 * The processes a chaos run starts and kills: edgefuse commands (bin/edgefuse, as a
 * user runs them) and Mosquitto. Each one's output goes, line by line and named, to
 * the run's log; killing one waits until it has really exited. Whatever is still running
 * when this process exits is SIGKILLed with it, so a run stopped half-way leaves nothing behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../core/paths.js";

export interface Child {
  readonly name: string;
  readonly pid: number | undefined;
  /** Resolves when the process has exited, with how. */
  readonly exited: Promise<string>;
  readonly running: boolean;
  /** Sends `signal` (SIGTERM: a graceful stop, falling back to SIGKILL after graceMs) and waits for the exit. */
  stop(signal: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Where every process's lines go: `[name] line`. */
export type LineSink = (line: string) => void;

const alive = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of alive) child.kill("SIGKILL");
});

export function spawnChild(
  name: string,
  command: string,
  args: readonly string[],
  log: LineSink,
  env?: NodeJS.ProcessEnv,
): Child {
  const child: ChildProcess = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...(env && { env }) });
  alive.add(child);
  const forward = (stream: NodeJS.ReadableStream | null) => {
    let partial = "";
    stream?.on("data", (d: Buffer) => {
      const lines = (partial + d.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) if (line) log(`[${name}] ${line}`);
    });
  };
  forward(child.stdout);
  forward(child.stderr);
  const exited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => resolve(signal ? `killed by ${signal}` : `exited ${code}`));
    // A command that cannot be started at all (missing binary) ends here, not in an unhandled error.
    child.once("error", (err) => resolve(`could not start: ${err.message}`));
  });
  let running = true;
  void exited.then((how) => {
    running = false;
    alive.delete(child);
    log(`[${name}] ${how}`);
  });
  return {
    name,
    pid: child.pid,
    exited,
    get running() {
      return running;
    },
    async stop(signal, graceMs = 5_000) {
      if (!running) return;
      child.kill(signal);
      const timer = signal === "SIGKILL" ? undefined : setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `bin/edgefuse <args>`: the built CLI (dist/), as a device or the planner runs it. */
export const spawnEdgefuse = (name: string, args: readonly string[], log: LineSink, env?: NodeJS.ProcessEnv): Child =>
  spawnChild(name, join(PACKAGE_ROOT, "bin", "edgefuse"), args, log, env);

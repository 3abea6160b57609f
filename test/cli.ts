/**
 * Runs the built CLI (bin/edgefuse → dist/) as a user would, and captures what it prints.
 * dist/ is rebuilt before the suites when a source is newer (test/setup/build-dist.ts).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./fixtures.js";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function edgefuse(
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(REPO_ROOT, "bin", "edgefuse"), args, {
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface RunningCli {
  readonly child: ChildProcess;
  readonly output: { stdout: string; stderr: string };
  /** Resolves with the first match of `pattern` in stdout + stderr; rejects if the process ends first or at the timeout. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves when the process has ended, with its exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the built CLI as a long-running process (a broker, `up`): the caller ends it. */
export function startEdgefuse(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): RunningCli {
  const child = spawn(join(REPO_ROOT, "bin", "edgefuse"), args, {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { stdout: "", stderr: "" };
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const l of listeners) l();
  };
  child.stdout!.on("data", (d) => {
    output.stdout += d;
    changed();
  });
  child.stderr!.on("data", (d) => {
    output.stderr += d;
    changed();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => {
      resolve({ code, signal });
      changed();
    }),
  );
  let ended = false;
  void exited.then(() => (ended = true));
  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = (output.stdout + output.stderr).match(pattern);
        if (match) done(() => resolve(match));
        else if (ended || child.exitCode !== null || child.signalCode !== null)
          done(() =>
            reject(
              new Error(
                `edgefuse ${args.join(" ")} ended before printing ${pattern}:\n${output.stdout}${output.stderr}`,
              ),
            ),
          );
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(
              new Error(
                `no ${pattern} from edgefuse ${args.join(" ")} within ${timeoutMs} ms:\n${output.stdout}${output.stderr}`,
              ),
            ),
          ),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });
  return { child, output, waitFor, exited };
}

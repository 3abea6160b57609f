/** Runs the built CLI (bin/edgefuse → dist/) as a user would, and captures what it prints. */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./shared.js";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function edgefuse(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(REPO_ROOT, "bin", "edgefuse"), args, { env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
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

/**
 * Run one command without a shell and fail loudly: a LabError carries the exact
 * command line, its exit code and its stderr, so a broken `ip`/`tc` step explains
 * itself. The sync variant exists for teardown in `process.on("exit")`, where no
 * promise will ever settle.
 */
import { execFile, execFileSync } from "node:child_process";
import { LabError } from "../core/errors.js";

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** How the lab runs commands; swapped in tests to inject a failure at a chosen step. */
export type Runner = (argv: readonly string[]) => Promise<RunResult>;

/** Quote argv for messages only (it is never handed to a shell). */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

export const run: Runner = (argv) =>
  new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    if (!file) return reject(new LabError("empty command"));
    execFile(file, args, { encoding: "utf8", maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, stderr });
      // A string code (ENOENT, EACCES) means the program never ran.
      if (typeof err.code === "string")
        return reject(new LabError(`cannot run \`${formatArgv(argv)}\`: ${err.code} (is it installed and on PATH?)`));
      const code = typeof err.code === "number" ? err.code : null;
      reject(new LabError("command failed", formatArgv(argv), code, err.signal ? `${err.signal} ${stderr}` : stderr));
    });
  });

export function runSync(argv: readonly string[]): RunResult {
  const [file, ...args] = argv;
  if (!file) throw new LabError("empty command");
  try {
    const stdout = execFileSync(file, args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 16 << 20,
    });
    return { stdout, stderr: "" };
  } catch (err) {
    const e = err as { status?: number | null; signal?: string | null; stderr?: string; code?: string };
    if (e.code) throw new LabError(`cannot run \`${formatArgv(argv)}\`: ${e.code} (is it installed and on PATH?)`);
    throw new LabError(
      "command failed",
      formatArgv(argv),
      e.status ?? null,
      e.signal ? `${e.signal} ${e.stderr ?? ""}` : (e.stderr ?? ""),
    );
  }
}

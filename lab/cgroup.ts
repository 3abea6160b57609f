/**
 * CPU limits with the cgroup v1 cpu controller (cgroup v2 has no cpu controller on
 * these machines): a quota of `share * period` microseconds per 100 ms period.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { LabError } from "../core/errors.js";
import { CPU_CGROUP_ROOT } from "./names.js";

export const CFS_PERIOD_US = 100_000;

export function assertCpuController(): void {
  if (!existsSync(`${CPU_CGROUP_ROOT}/cpu.cfs_quota_us`)) {
    throw new LabError(
      `no cgroup v1 cpu controller at ${CPU_CGROUP_ROOT} (cpu.cfs_quota_us missing); the lab limits CPU with it`,
    );
  }
}

/** Make the cgroup directory and set its quota (null: no limit); on failure nothing is left. */
export function createCpuGroup(path: string, share: number | null): void {
  try {
    mkdirSync(path);
  } catch (err) {
    throw new LabError(`cgroup ${path}: ${(err as Error).message}`);
  }
  try {
    writeFileSync(`${path}/cpu.cfs_period_us`, String(CFS_PERIOD_US));
    writeFileSync(`${path}/cpu.cfs_quota_us`, share === null ? "-1" : String(Math.round(share * CFS_PERIOD_US)));
  } catch (err) {
    removeCpuGroup(path);
    throw new LabError(`cgroup ${path}: setting the cpu quota: ${(err as Error).message}`);
  }
}

/**
 * argv that joins the cgroup and then execs `argv`. The shell writes its own pid
 * ($$) to cgroup.procs before `exec`, so the program is limited from its first
 * instruction — writing the pid from the parent after spawn would let a busy child
 * run unlimited for a moment. The script is constant: the cgroup path arrives as $0
 * and the command as "$@", so nothing is ever interpolated into shell text.
 */
export function joinCgroupArgv(path: string, argv: readonly string[]): string[] {
  return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', `${path}/cgroup.procs`, ...argv];
}

/** Pids in the cgroup (not its children); [] if it is gone. */
export function cgroupPids(path: string): number[] {
  try {
    return readFileSync(`${path}/cgroup.procs`, "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** rmdir the (empty) cgroup; true if it is gone. EBUSY means processes are still in it. */
export function removeCpuGroup(path: string): boolean {
  try {
    rmdirSync(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT";
  }
}

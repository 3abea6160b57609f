/**
 * CPU limits with the cgroup v1 cpu controller (cgroup v2 has no cpu controller on
 * these machines): a quota of `share * period` microseconds per period.
 *
 * The period is short (10 ms) so that a device computes at its share steadily, as a
 * slow CPU does: with the kernel's default 100 ms, a 0.25-core device runs 25 ms at
 * the machine's full speed and then stands still for 75, so a stage's time came in
 * steps of 100 ms and a short task went four times faster than the device's speed
 * says. Below 0.1 of a core the quota would fall under the kernel's 1 ms floor, so
 * such shares keep the 100 ms period.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { LabError } from "../core/errors.js";
import { CPU_CGROUP_ROOT } from "./names.js";

export const CFS_PERIOD_US = 10_000;
/** The kernel's period, for shares whose quota in CFS_PERIOD_US would be under its 1 ms floor. */
export const LONG_CFS_PERIOD_US = 100_000;
const MIN_QUOTA_US = 1_000;

/** The period a share is enforced over: CFS_PERIOD_US where its quota stays ≥ 1 ms. */
export const cfsPeriodUs = (share: number): number =>
  share * CFS_PERIOD_US >= MIN_QUOTA_US ? CFS_PERIOD_US : LONG_CFS_PERIOD_US;

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
    setCpuQuota(path, share);
  } catch (err) {
    removeCpuGroup(path);
    throw err;
  }
}

/** Set the cgroup's quota to `share` of a core (null: no limit). */
export function setCpuQuota(path: string, share: number | null): void {
  try {
    const period = share === null ? CFS_PERIOD_US : cfsPeriodUs(share);
    writeFileSync(`${path}/cpu.cfs_period_us`, String(period));
    writeFileSync(`${path}/cpu.cfs_quota_us`, share === null ? "-1" : String(Math.round(share * period)));
  } catch (err) {
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

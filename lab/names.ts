/**
 * How lab resources are named. Every name starts with the lab id
 * `<prefix>-<owner pid>-<random hex>`: the random part keeps two labs (or a crashed
 * previous run) from colliding, and the owner pid lets cleanupStale tell a crashed
 * run's leftovers from a lab that is still in use.
 *
 * Interface names (br0, d<k>, eth0) are created directly inside the lab's own
 * namespaces and never exist in the root namespace, so they need no suffix and fit
 * the kernel's 15-character limit whatever the prefix.
 */
import { randomBytes } from "node:crypto";

export const CPU_CGROUP_ROOT = "/sys/fs/cgroup/cpu";
export const DEFAULT_PREFIX = "eflab";
/** Letters and digits only: '-' separates the id's fields. */
export const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,11}$/;

export const BRIDGE = "br0";
export const DEVICE_IFACE = "eth0";
export const hubPort = (device: number): string => `d${device}`;

export function newLabId(prefix: string, ownerPid = process.pid): string {
  return `${prefix}-${ownerPid}-${randomBytes(3).toString("hex")}`;
}

export const hubNamespace = (labId: string): string => `${labId}-hub`;
export const deviceNamespace = (labId: string, device: number): string => `${labId}-d${device}`;
export const labCgroup = (labId: string): string => `${CPU_CGROUP_ROOT}/${labId}`;
export const deviceCgroup = (labId: string, device: number): string => `${labCgroup(labId)}/d${device}`;

/** The lab id and owner of a namespace or cgroup name made by this module, or null. */
export function parseLabName(name: string, prefix: string): { labId: string; ownerPid: number } | null {
  const m = /^([a-z][a-z0-9]*)-(\d+)-([0-9a-f]{6})(?:-(?:hub|d\d+))?$/.exec(name);
  if (!m || m[1] !== prefix) return null;
  return { labId: `${m[1]}-${m[2]}-${m[3]}`, ownerPid: Number(m[2]) };
}

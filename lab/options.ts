/**
 * What a lab is asked to be, checked by zod before anything is created, and the
 * plan derived from it: every name, address, rate and CPU share, decided up front so
 * that creation is a plain list of steps.
 */
import { availableParallelism } from "node:os";
import { z } from "zod";
import { LabError } from "../core/errors.js";
import {
  DEFAULT_PREFIX,
  PREFIX_PATTERN,
  deviceCgroup,
  deviceNamespace,
  hubNamespace,
  labCgroup,
  newLabId,
} from "./names.js";

/** One address per device plus the hub's .1 must fit a /24. */
export const MAX_DEVICES = 200;

const mbit = z.number().positive().max(10_000, "at most 10000 mbit (10 gbit)");
const share = z
  .number()
  .min(0.01, "at least 0.01 of a core (the kernel's quota floor is 1 ms per 100 ms period)")
  .refine((s) => s <= availableParallelism(), `at most ${availableParallelism()} (the cores this machine has)`);

export const LabOptions = z.object({
  devices: z.number().int().min(1).max(MAX_DEVICES),
  /** Link rate in each direction, Mbit/s; one number for every device or one per device. */
  bandwidthMbit: z.union([mbit, z.array(mbit)]),
  /** CPU per device as a fraction of one core; null means no limit (for all, or for one device in a list). */
  cpuShare: z.union([share, z.array(share.nullable()), z.null()]).default(null),
  /**
   * CPU for processes run in the hub with `cpuLimit: true` (a device that lives beside
   * the broker, such as the source); null: the hub has no quota cgroup of its own.
   */
  hubCpuShare: z.union([share, z.null()]).default(null),
  /** A private /24 used only inside the lab's own namespaces. */
  subnet: z
    .string()
    .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/, "expected a /24 such as 10.77.0.0/24")
    .refine(isPrivate24, "must be private (10/8, 172.16/12 or 192.168/16)")
    .default("10.77.0.0/24"),
  namePrefix: z
    .string()
    .regex(PREFIX_PATTERN, "lowercase letters and digits, starting with a letter, at most 12")
    .default(DEFAULT_PREFIX),
});
export type LabOptions = z.input<typeof LabOptions>;

function isPrivate24(subnet: string): boolean {
  const [a, b, c] = subnet.split(/[./]/).map(Number) as [number, number, number];
  if (a > 255 || b > 255 || c > 255) return false;
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

export interface DevicePlan {
  readonly index: number;
  readonly namespace: string;
  readonly address: string;
  readonly mbit: number;
  readonly cpuShare: number | null;
  readonly cgroup: string;
}

export interface LabPlan {
  readonly id: string;
  readonly hubNamespace: string;
  /** Unlimited cgroup holding the hub's processes; device cgroups sit inside it. */
  readonly cgroup: string;
  /** Quota cgroup for hub processes run with cpuLimit: true; null when hubCpuShare is null. */
  readonly hubCpu: { readonly cgroup: string; readonly share: number } | null;
  /** The bridge's own address in the hub: the far end of every link probe, and the broker's in the hub topology. */
  readonly hubAddress: string;
  readonly prefixLength: 24;
  readonly devices: readonly DevicePlan[];
}

export function planLab(input: LabOptions, labId?: string): LabPlan {
  const parsed = LabOptions.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new LabError(`lab options: ${issue.path.join(".") || "options"}: ${issue.message}`);
  }
  const o = parsed.data;
  const perDevice = <T>(what: string, v: T | readonly T[]): T[] => {
    if (!Array.isArray(v)) return Array.from({ length: o.devices }, () => v as T);
    if (v.length !== o.devices)
      throw new LabError(`lab options: ${what} lists ${v.length} values for ${o.devices} devices`);
    return [...v];
  };
  const rates = perDevice("bandwidthMbit", o.bandwidthMbit);
  const shares = perDevice<number | null>("cpuShare", o.cpuShare);
  const net = o.subnet.slice(0, o.subnet.lastIndexOf(".") + 1);
  const id = labId ?? newLabId(o.namePrefix);
  return {
    id,
    hubNamespace: hubNamespace(id),
    cgroup: labCgroup(id),
    hubCpu: o.hubCpuShare === null ? null : { cgroup: `${labCgroup(id)}/hub`, share: o.hubCpuShare },
    hubAddress: `${net}1`,
    prefixLength: 24,
    devices: rates.map((rate, k) => ({
      index: k,
      namespace: deviceNamespace(id, k),
      address: `${net}${k + 2}`,
      mbit: rate,
      cpuShare: shares[k]!,
      cgroup: deviceCgroup(id, k),
    })),
  };
}

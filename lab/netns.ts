/**
 * The lab: one hub namespace holding a bridge (the switch, with an address of its
 * own), and one namespace per device joined to the bridge by a veth. What runs where
 * (the broker in a device, on a gateway namespace or in the hub itself) is the
 * topology's business (topology.ts); this module only builds the network.
 *
 * Each device link is shaped both ways with tbf, one qdisc on each veth end: the
 * device side shapes what the device sends, the bridge side what it receives. Both
 * are egress qdiscs, so no ifb is needed, and both live inside the lab's namespaces
 * and vanish with them. Device-to-device traffic passes the sender's up link and the
 * receiver's down link, as it would through a real switch.
 *
 * Each device also has a cgroup v1 CPU quota; lab.exec runs a command inside a
 * device's namespace and cgroup.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { LabError } from "../core/errors.js";
import { assertCpuController, createCpuGroup, joinCgroupArgv, setCpuQuota } from "./cgroup.js";
import { register, unregister } from "./lifecycle.js";
import { BRIDGE, DEVICE_IFACE, hubPort } from "./names.js";
import { planLab, type DevicePlan, type LabOptions, type LabPlan } from "./options.js";
import { run as defaultRun, type Runner } from "./sh.js";
import { gsoArgv, gsoMaxBytes, tbfArgv } from "./shaping.js";
import { Ledger, teardownSync } from "./teardown.js";

/** Where a process runs: device namespace k (0-based) or the hub. */
export type Place = number | "hub";

export interface ExecOptions {
  /** Added to this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * false runs the command in the device's namespace but outside its CPU quota — for
   * tools that measure the network and must not be slowed by the emulated CPU. In the
   * hub, true runs it under the hub quota (LabOptions.hubCpuShare), if there is one.
   */
  readonly cpuLimit?: boolean;
  readonly stdio?: StdioOptions;
  readonly cwd?: string;
}

export interface Lab {
  readonly id: string;
  readonly hubNamespace: string;
  /** The bridge's address in the hub namespace. */
  readonly hubAddress: string;
  readonly devices: readonly DevicePlan[];
  addressOf(device: number): string;
  namespaceOf(place: Place): string;
  /** Spawn argv inside the place's namespace (and the device's CPU quota). No shell. */
  exec(place: Place, argv: readonly string[], options?: ExecOptions): ChildProcess;
  /**
   * Change the rate of one device's link (both directions), or of every device's.
   * Connections opened before keep the packet size they started with.
   */
  setBandwidth(mbit: number, device?: number): Promise<void>;
  /**
   * Change only the rate of one device's link (both directions), keeping the packet
   * size it was set up for: a link can carry start-up traffic fast and then return to
   * its own rate without its connections changing.
   */
  setRateOnly(mbit: number, device: number): Promise<void>;
  /** The rate device k's link is set to now, Mbit/s. */
  rateOf(device: number): number;
  /**
   * Lift every CPU quota of the lab (false) or set each back to its share (true): start-up
   * work such as loading a plan's shards is not what an experiment times.
   */
  limitCpu(limited: boolean): void;
  /** SIGTERM the lab's processes, SIGKILL what is left after graceMs, then remove everything. */
  destroy(graceMs?: number): Promise<void>;
}

export interface LabDeps {
  /** Runs each ip/tc command; tests swap it to fail at a chosen step. */
  readonly run?: Runner;
}

export async function createLab(options: LabOptions, deps: LabDeps = {}): Promise<Lab> {
  assertRoot();
  assertCpuController();
  const plan = planLab(options);
  const run = deps.run ?? defaultRun;
  const ledger = new Ledger(plan.id);
  register(ledger); // from here on, a signal mid-build still tears down what exists
  try {
    await build(plan, ledger, run);
  } catch (err) {
    try {
      teardownSync(ledger);
    } finally {
      unregister(ledger);
    }
    throw err;
  }
  return new NamespaceLab(plan, ledger, run);
}

function assertRoot(): void {
  const uid = process.getuid?.();
  if (uid !== 0) {
    throw new LabError(
      `the lab needs root (it creates network namespaces, tc qdiscs and cgroups); running as uid ${uid ?? "unknown"}`,
    );
  }
}

async function build(plan: LabPlan, ledger: Ledger, run: Runner): Promise<void> {
  const hub = plan.hubNamespace;
  const cidr = (addr: string): string => `${addr}/${plan.prefixLength}`;

  createCpuGroup(plan.cgroup, null);
  ledger.add({ kind: "cgroup", path: plan.cgroup });
  if (plan.hubCpu) {
    createCpuGroup(plan.hubCpu.cgroup, plan.hubCpu.share);
    ledger.add({ kind: "cgroup", path: plan.hubCpu.cgroup });
  }
  await run(["ip", "netns", "add", hub]);
  ledger.add({ kind: "netns", name: hub });
  await settleNamespace(run, hub);
  await run(["ip", "-n", hub, "link", "add", BRIDGE, "type", "bridge"]);
  await run(["ip", "-n", hub, "addr", "add", cidr(plan.hubAddress), "dev", BRIDGE]);
  await run(["ip", "-n", hub, "link", "set", BRIDGE, "up"]);

  for (const d of plan.devices) {
    const port = hubPort(d.index);
    createCpuGroup(d.cgroup, d.cpuShare);
    ledger.add({ kind: "cgroup", path: d.cgroup });
    await run(["ip", "netns", "add", d.namespace]);
    ledger.add({ kind: "netns", name: d.namespace });
    await settleNamespace(run, d.namespace);
    // Made inside the hub with its peer sent straight into the device: neither end
    // ever appears in the root namespace, and deleting either namespace removes both.
    await run([
      "ip",
      "-n",
      hub,
      "link",
      "add",
      port,
      "type",
      "veth",
      "peer",
      "name",
      DEVICE_IFACE,
      "netns",
      d.namespace,
    ]);
    await run(["ip", "-n", hub, "link", "set", port, "master", BRIDGE, "up"]);
    await run(["ip", "-n", d.namespace, "addr", "add", cidr(d.address), "dev", DEVICE_IFACE]);
    await run(["ip", "-n", d.namespace, "link", "set", DEVICE_IFACE, "up"]);
    await shapeLink(run, plan, d.index, d.mbit, "add");
  }
  await run(
    bridgeGsoArgv(
      plan,
      plan.devices.map((d) => d.mbit),
    ),
  );
}

/** Loopback up, and no TCP metrics cache: each connection starts fresh, not from what an earlier run at another rate taught the kernel. */
async function settleNamespace(run: Runner, ns: string): Promise<void> {
  await run(["ip", "-n", ns, "link", "set", "lo", "up"]);
  await run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.tcp_no_metrics_save=1"]);
}

/** tbf on both ends of device k's veth, and packet sizes that suit the rate. */
async function shapeLink(run: Runner, plan: LabPlan, k: number, mbit: number, verb: "add" | "replace"): Promise<void> {
  const device = plan.devices[k]!.namespace;
  await run(tbfArgv(device, DEVICE_IFACE, mbit, verb)); // device → network
  await run(tbfArgv(plan.hubNamespace, hubPort(k), mbit, verb)); // network → device
  await run(gsoArgv(device, DEVICE_IFACE, gsoMaxBytes(mbit)));
  await run(gsoArgv(plan.hubNamespace, hubPort(k), gsoMaxBytes(mbit)));
}

/** The hub's own TCP (the broker) builds packets for the bridge, so the bridge takes the slowest link's size. */
function bridgeGsoArgv(plan: LabPlan, rates: readonly number[]): string[] {
  return gsoArgv(plan.hubNamespace, BRIDGE, gsoMaxBytes(Math.min(...rates)));
}

class NamespaceLab implements Lab {
  private destroyed = false;
  private readonly rates: number[];

  constructor(
    private readonly plan: LabPlan,
    private readonly ledger: Ledger,
    private readonly run: Runner,
  ) {
    this.rates = plan.devices.map((d) => d.mbit);
  }

  get id(): string {
    return this.plan.id;
  }
  get hubNamespace(): string {
    return this.plan.hubNamespace;
  }
  get hubAddress(): string {
    return this.plan.hubAddress;
  }
  get devices(): readonly DevicePlan[] {
    return this.plan.devices.map((d) => ({ ...d, mbit: this.rates[d.index]! }));
  }

  addressOf(device: number): string {
    return this.device(device).address;
  }

  namespaceOf(place: Place): string {
    return place === "hub" ? this.plan.hubNamespace : this.device(place).namespace;
  }

  exec(place: Place, argv: readonly string[], options: ExecOptions = {}): ChildProcess {
    if (this.destroyed || this.ledger.closed)
      throw new LabError(`lab ${this.id} is torn down; cannot run ${argv[0] ?? "(empty argv)"}`);
    if (argv.length === 0) throw new LabError("exec: empty argv");
    const cgroup = this.cgroupFor(place, options.cpuLimit);
    // Join the cgroup first: `ip netns exec` remounts /sys, hiding /sys/fs/cgroup.
    const [file, ...args] = joinCgroupArgv(cgroup, ["ip", "netns", "exec", this.namespaceOf(place), ...argv]);
    const child = spawn(file!, args, {
      env: { ...process.env, ...options.env },
      stdio: options.stdio ?? "pipe",
      cwd: options.cwd,
    });
    this.ledger.children.add(child);
    child.once("exit", () => this.ledger.children.delete(child));
    return child;
  }

  async setBandwidth(mbit: number, device?: number): Promise<void> {
    if (!(mbit > 0)) throw new LabError(`setBandwidth: rate must be positive, got ${mbit}`);
    const targets = device === undefined ? this.plan.devices : [this.device(device)];
    for (const d of targets) {
      await shapeLink(this.run, this.plan, d.index, mbit, "replace");
      this.rates[d.index] = mbit;
    }
    await this.run(bridgeGsoArgv(this.plan, this.rates));
  }

  rateOf(device: number): number {
    return this.rates[this.device(device).index]!;
  }

  limitCpu(limited: boolean): void {
    for (const d of this.plan.devices) setCpuQuota(d.cgroup, limited ? d.cpuShare : null);
    if (this.plan.hubCpu) setCpuQuota(this.plan.hubCpu.cgroup, limited ? this.plan.hubCpu.share : null);
  }

  async setRateOnly(mbit: number, device: number): Promise<void> {
    if (!(mbit > 0)) throw new LabError(`setRateOnly: rate must be positive, got ${mbit}`);
    const d = this.device(device);
    await this.run(tbfArgv(d.namespace, DEVICE_IFACE, mbit, "replace"));
    await this.run(tbfArgv(this.plan.hubNamespace, hubPort(d.index), mbit, "replace"));
  }

  async destroy(graceMs = 1000): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const running = [...this.ledger.children].filter((c) => c.exitCode === null && c.signalCode === null);
    for (const child of running) child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(running.map((c) => new Promise((resolve) => c.once("exit", resolve)))),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    try {
      teardownSync(this.ledger);
    } finally {
      unregister(this.ledger);
    }
  }

  /** Devices run under their quota unless cpuLimit is false; the hub only when asked (cpuLimit: true) and the lab has a hub quota. */
  private cgroupFor(place: Place, cpuLimit: boolean | undefined): string {
    if (place === "hub") return cpuLimit === true && this.plan.hubCpu ? this.plan.hubCpu.cgroup : this.plan.cgroup;
    return cpuLimit === false ? this.plan.cgroup : this.device(place).cgroup;
  }

  private device(k: number): DevicePlan {
    const d = this.plan.devices[k];
    if (!Number.isInteger(k) || !d)
      throw new LabError(`no device ${k} in lab ${this.id} (devices 0..${this.plan.devices.length - 1})`);
    return d;
  }
}

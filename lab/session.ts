/**
 * One deployment inside one namespace lab, laid out by its topology (topology.ts):
 * `paper` puts every device, the source included, behind its own shaped link with the
 * broker and planner on the source device; `hub` keeps the broker, planner and source
 * on the unshaped centre; `gateway` gives the broker and planner a host and link of
 * their own. Every device process is told its link's rates (`--uplink`, `--downlink`),
 * so the plan knows each link.
 *
 * The processes are started per bandwidth: a TCP connection keeps the packet size of
 * the rate it was opened at (lab.setBandwidth), so a new rate gets new connections.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { LabError } from "../core/errors.js";
import { PACKAGE_ROOT } from "../core/paths.js";
import {
  HUB_AGENT_ENV,
  type HubAgentConfig,
  type HubReply,
  type HubRequest,
  type InferReply,
  type LabPlanning,
  type PlanReply,
  type PresentReply,
} from "./hub-protocol.js";
import { measureLinkRate, type LinkRate } from "./linkrate.js";
import { createLab, type Lab, type Place } from "./netns.js";
import { publishChunkedDefaults } from "../broker/client.js";
import {
  type DeviceLayout,
  layoutOf,
  type PerDevice,
  perDevice,
  type Topology,
  type TopologyLayout,
} from "./topology.js";

export interface SessionOptions {
  /** Devices in all, the source included. */
  readonly devices: number;
  /** Where the broker, planner and source sit (topology.ts); default "paper". */
  readonly topology?: Topology;
  /** The gateway's link rate, both ways, Mbit/s (the gateway topology only). */
  readonly gatewayMbit?: number;
  /** Each device's link rate, both ways: one for all, or one per device (source first). */
  readonly bandwidthMbit: PerDevice<number>;
  /** CPU per device (the source too), fraction of one core: one for all, or one per device. */
  readonly cpuShare: PerDevice<number>;
  /** Each device's `--memory`, MB: one for all, or one per device; default LAB_MEMORY_MB. */
  readonly memoryMb?: PerDevice<number>;
  readonly cfg: string;
  readonly weights: string;
  readonly image: string;
  readonly namePrefix?: string;
  /** Links run at least this fast (mbit) while a plan's shards travel, then at their own rate: start-up is not timed. */
  readonly shardMbit?: number;
  /** Each link's rate is measured this long per direction when the rate is set. */
  readonly linkProbeMs?: number;
  /** How long a plan may take to reach every device, and a request to finish. */
  readonly planTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

/** What a record says of the lab it ran in. */
export interface SessionSettings {
  readonly topology: Topology;
  readonly gatewayMbit: number | null;
  /** Per device, source first: link rate as set (Mbit/s; the hub topology leaves the source's link unlimited), CPU quota, --memory. */
  readonly deviceBandwidthMbit: readonly number[];
  readonly deviceCpuShare: readonly number[];
  readonly deviceMemoryMb: readonly number[];
}

/** Generous: the lab measures time, not what fits; set it per device to study memory. */
export const LAB_MEMORY_MB = 4096;
/** Where the lab's broker listens, in the namespace the topology puts it in (a camera there reaches it on 127.0.0.1). */
export const BROKER_PORT = 1883;
export const LAB_DEPLOYMENT = "lab";
const MAX_PACKET_BYTES = publishChunkedDefaults.maxPacketBytes;
/** Kept per process for error messages: a crash is explained by its last lines. */
const TAIL_LINES = 20;
const EDGEFUSE = join(PACKAGE_ROOT, "bin", "edgefuse");
const AGENT = join(PACKAGE_ROOT, "dist", "lab", "hub-agent.js");
const AGENT_NAME = "broker";

export class LabSession {
  private processes: { name: string; child: ChildProcess; tail: string[] }[] = [];
  private pending = new Map<number, { resolve: (r: HubReply) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private agent: ChildProcess | undefined;
  /** Measured rate of every link (lab device index), up and down, at the current bandwidth. */
  linkRates: LinkRate[] = [];
  /** The one rate setBandwidth gave every device link, replacing the options' rates. */
  private rateOverride: number | undefined;
  private answered = 0;

  private constructor(
    readonly lab: Lab,
    private readonly o: SessionOptions,
    private layout: TopologyLayout,
  ) {}

  static async open(o: SessionOptions): Promise<LabSession> {
    const layout = sessionLayout(o);
    const lab = await createLab({ ...layout.lab, ...(o.namePrefix ? { namePrefix: o.namePrefix } : {}) });
    const session = new LabSession(lab, o, layout);
    try {
      await session.measureLinks();
      await session.start();
    } catch (err) {
      await session.close();
      throw err;
    }
    return session;
  }

  get workers(): number {
    return this.o.devices - 1;
  }

  get topology(): Topology {
    return this.layout.topology;
  }

  /** The slowest limited device link, Mbit/s (every device's rate when they share one). */
  get bandwidthMbit(): number {
    return Math.min(...this.limitedMbit());
  }

  get settings(): SessionSettings {
    const devices = this.layout.devices;
    return {
      topology: this.layout.topology,
      gatewayMbit: this.layout.gatewayMbit,
      deviceBandwidthMbit: [...this.deviceMbit],
      deviceCpuShare: devices.map((d) => d.cpuShare),
      deviceMemoryMb: devices.map((d) => d.memoryMb),
    };
  }

  /** The lab device whose veth carries the named link ("source", "w1", "gateway"), or -1. */
  linkDevice(name: string): number {
    return this.layout.links.find((l) => l.name === name)?.labDevice ?? -1;
  }

  /** Each link's measured rate by name, "up" (towards the switch) and "down". */
  get measuredLinkMbit(): { link: string; up: number; down: number }[] {
    const rate = (k: number, direction: "up" | "down"): number =>
      this.linkRates.find((r) => r.device === k && r.direction === direction)?.mbit ?? Number.NaN;
    return this.layout.links.map((l) => ({
      link: l.name,
      up: rate(l.labDevice, "up"),
      down: rate(l.labDevice, "down"),
    }));
  }

  /**
   * Re-plan and wait until every device holds its shards (not timed: start-up). With
   * `shardMbit`, every link runs at least that fast while the shards travel and then
   * returns to its own rate, packet sizes unchanged: loading 200 MB of shards at 10 mbit
   * would take minutes and says nothing about a request's time.
   */
  async plan(planning: LabPlanning): Promise<PlanReply> {
    const fast = this.o.shardMbit;
    const links = this.layout.links.map((l) => ({ device: l.labDevice, mbit: this.lab.rateOf(l.labDevice) }));
    const raised = fast === undefined ? [] : links.filter((l) => l.mbit < fast);
    for (const l of raised) await this.lab.setRateOnly(fast!, l.device);
    // Planning, sending shards and building the stages' sessions at full speed: on a
    // quarter core that took ~40 s a plan, and none of it is what a request's time says.
    this.lab.limitCpu(false);
    try {
      return (await this.ask({ op: "plan", planning, timeoutMs: this.o.planTimeoutMs ?? 600_000 })) as PlanReply;
    } finally {
      this.lab.limitCpu(true);
      for (const l of raised) await this.lab.setRateOnly(l.mbit, l.device);
    }
  }

  /**
   * CPU time (user + system, every thread) each process of the deployment has used so far,
   * ms, by its name ("broker" for the broker's and planner's process, then the device ids).
   */
  cpuMs(): Record<string, number> {
    return Object.fromEntries(this.processes.map(({ name, child }) => [name, processCpuMs(child.pid)]));
  }

  /** Requests the deployment's current processes have answered (0 after a start: cold processes). */
  get served(): number {
    return this.answered;
  }

  async infer(requestId: string): Promise<InferReply> {
    const reply = (await this.ask({
      op: "infer",
      requestId,
      timeoutMs: this.o.requestTimeoutMs ?? 600_000,
    })) as InferReply;
    this.answered++;
    return reply;
  }

  /** Stop the deployment, set every device's link (not the gateway's) to one rate, measure the links, start afresh. */
  async setBandwidth(mbit: number): Promise<void> {
    await this.stopProcesses();
    this.rateOverride = mbit;
    this.layout = sessionLayout({ ...this.o, bandwidthMbit: mbit });
    for (const link of this.layout.links.filter((l) => l.name !== "gateway"))
      await this.lab.setBandwidth(mbit, link.labDevice);
    await this.measureLinks();
    await this.start();
  }

  async close(): Promise<void> {
    await this.stopProcesses();
    await this.lab.destroy();
  }

  /** The rates as set, per device (source first). */
  private get deviceMbit(): readonly number[] {
    return perDevice("bandwidthMbit", this.rateOverride ?? this.o.bandwidthMbit, this.o.devices);
  }

  private limitedMbit(): number[] {
    const rates = this.layout.devices.flatMap((d) => (d.mbit === null ? [] : [d.mbit]));
    return rates.length ? rates : [...this.layout.lab.bandwidthMbit];
  }

  private async measureLinks(): Promise<void> {
    this.linkRates = [];
    for (const link of this.layout.links) {
      for (const direction of ["up", "down"] as const) {
        this.linkRates.push(
          await measureLinkRate(this.lab, link.labDevice, direction, { durationMs: this.o.linkProbeMs ?? 1000 }),
        );
      }
    }
  }

  private async start(): Promise<void> {
    this.answered = 0;
    const config: HubAgentConfig = {
      cfg: this.o.cfg,
      weights: this.o.weights,
      image: this.o.image,
      devices: this.o.devices,
      deployment: LAB_DEPLOYMENT,
      port: BROKER_PORT,
      maxPacketBytes: MAX_PACKET_BYTES,
      broker: this.layout.plannerBroker,
      links: this.layout.links.map(({ name, workers, source }) => ({
        name,
        workers: workers === "all" ? "all" : [...workers],
        source,
      })),
    };
    // The broker's own process: under the quota of the device it runs on, none in the hub.
    const agent = this.spawn(AGENT_NAME, this.layout.broker, [process.execPath, AGENT], {
      env: { [HUB_AGENT_ENV]: JSON.stringify(config) },
    });
    this.agent = agent;
    const replies = createInterface({ input: agent.stdout! });
    replies.on("line", (line) => {
      let reply: HubReply;
      try {
        reply = JSON.parse(line) as HubReply;
      } catch {
        return this.o.log?.(`${AGENT_NAME}: ${line}`);
      }
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      waiting?.resolve(reply);
    });
    agent.once("exit", (code, signal) => {
      const err = new LabError(`the broker's agent exited (${code ?? signal}): ${this.tailOf(AGENT_NAME)}`);
      for (const w of this.pending.values()) w.reject(err);
      this.pending.clear();
    });
    await this.reply(0); // listening
    for (const device of this.layout.devices) {
      // In the hub the source runs under the hub's quota, beside the unlimited broker.
      this.spawn(device.id, device.place, this.deviceArgv(device), device.place === "hub" ? { cpuLimit: true } : {});
    }
    // Each device measures its speed at start, under its quota: nothing may lift the quotas before.
    await this.ask({ op: "present", timeoutMs: this.o.planTimeoutMs ?? 600_000 });
  }

  /** `edgefuse source|worker` for one device: its broker, id, memory and link rates. */
  private deviceArgv(device: DeviceLayout): string[] {
    const brokerHost =
      device.place === this.layout.broker
        ? "127.0.0.1"
        : this.layout.broker === "hub"
          ? this.lab.hubAddress
          : this.lab.addressOf(this.layout.broker);
    const argv = [EDGEFUSE, device.role, "--broker", `mqtt://${brokerHost}:${BROKER_PORT}`, "--id", device.id];
    if (device.role === "source") argv.push("--timeout-ms", String(this.o.requestTimeoutMs ?? 600_000));
    argv.push(
      "--deployment",
      LAB_DEPLOYMENT,
      "--max-packet",
      String(MAX_PACKET_BYTES),
      "--memory",
      String(device.memoryMb),
    );
    if (device.mbit !== null) argv.push("--uplink", `${device.mbit}mbit`, "--downlink", `${device.mbit}mbit`);
    return argv;
  }

  private spawn(
    name: string,
    place: Place,
    argv: string[],
    options: { env?: NodeJS.ProcessEnv; cpuLimit?: boolean } = {},
  ): ChildProcess {
    const child = this.lab.exec(place, argv, { ...options, stdio: ["pipe", "pipe", "pipe"] });
    const entry = { name, child, tail: [] as string[] };
    createInterface({ input: child.stderr! }).on("line", (line) => {
      if (process.env.EDGEFUSE_LAB_VERBOSE) this.o.log?.(`[${name}] ${line}`);
      entry.tail.push(line);
      if (entry.tail.length > TAIL_LINES) entry.tail.shift();
    });
    if (name !== AGENT_NAME) child.stdout!.resume();
    child.once("exit", (code, signal) => {
      if (this.processes.includes(entry)) {
        const err = new LabError(`${name} exited (${code ?? signal}) during the experiment: ${this.tailOf(name)}`);
        for (const w of this.pending.values()) w.reject(err);
        this.pending.clear();
      }
    });
    this.processes.push(entry);
    return child;
  }

  private tailOf(name: string): string {
    return this.processes.find((p) => p.name === name)?.tail.join("\n  ") ?? "(no output)";
  }

  private async ask(
    request: HubRequest extends infer R ? (R extends HubRequest ? Omit<R, "id"> : never) : never,
  ): Promise<PlanReply | InferReply | PresentReply> {
    if (!this.agent?.stdin) throw new LabError("the lab's deployment is not running");
    const id = this.nextId++;
    const answer = this.reply(id);
    this.agent.stdin.write(`${JSON.stringify({ ...request, id })}\n`);
    const reply = await answer;
    return reply.body as PlanReply | InferReply | PresentReply;
  }

  private reply(id: number): Promise<Extract<HubReply, { ok: true }>> {
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        resolve: (r) =>
          r.ok ? resolve(r) : reject(new LabError(`${AGENT_NAME}: ${r.error}\n  ${this.tailOf(AGENT_NAME)}`)),
        reject,
      });
    });
  }

  /** SIGTERM every process of the deployment and wait for them (the lab stays). */
  private async stopProcesses(): Promise<void> {
    const running = this.processes;
    this.processes = [];
    this.agent = undefined;
    await Promise.all(
      running.map(({ child }) =>
        child.exitCode !== null || child.signalCode !== null
          ? undefined
          : new Promise<void>((resolve) => {
              const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
              child.once("exit", () => {
                clearTimeout(timer);
                resolve();
              });
              child.kill("SIGTERM");
            }),
      ),
    );
  }
}

/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const CLOCK_TICKS_PER_SEC = 100;

/** A process's CPU time so far (utime + stime of /proc/PID/stat), ms; NaN once it is gone. */
export function processCpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SEC;
  } catch {
    return NaN;
  }
}

/** The session's options as a layout: every per-device list resolved and checked against the device count. */
export function sessionLayout(o: SessionOptions): TopologyLayout {
  return layoutOf(
    o.topology ?? "paper",
    {
      mbit: perDevice("bandwidthMbit", o.bandwidthMbit, o.devices),
      cpuShare: perDevice("cpuShare", o.cpuShare, o.devices),
      memoryMb: perDevice("memoryMb", o.memoryMb ?? LAB_MEMORY_MB, o.devices),
    },
    o.gatewayMbit,
  );
}

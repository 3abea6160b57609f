/**
 * One deployment inside one namespace lab, in the paper's star through the source:
 * the hub namespace holds the broker and planner (hub-agent.ts, no quota) and the
 * source (a device: it computes its part, under the hub's CPU quota); each worker
 * k = 1..N−1 runs in device namespace k−1 behind its own shaped link. With N = 1 the
 * lab still has one device namespace (a lab needs one); nothing runs in it.
 *
 * The processes are started per bandwidth: a TCP connection keeps the packet size of
 * the rate it was opened at (lab.setBandwidth), so a new rate gets new connections.
 */
import type { ChildProcess } from "node:child_process";
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
} from "./hub-protocol.js";
import { measureLinkRate, type LinkRate } from "./linkrate.js";
import { createLab, type Lab, type Place } from "./netns.js";
import { publishChunkedDefaults } from "../broker/client.js";

export interface SessionOptions {
  /** Devices in all, the source included. */
  readonly devices: number;
  readonly bandwidthMbit: number;
  /** CPU per device (the source too), fraction of one core. */
  readonly cpuShare: number;
  readonly cfg: string;
  readonly weights: string;
  readonly image: string;
  readonly namePrefix?: string;
  /** Each link's rate is measured this long per direction when the rate is set. */
  readonly linkProbeMs?: number;
  /** How long a plan may take to reach every device, and a request to finish. */
  readonly planTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

const BROKER_PORT = 1883;
const MAX_PACKET_BYTES = publishChunkedDefaults.maxPacketBytes;
/** Kept per process for error messages: a crash is explained by its last lines. */
const TAIL_LINES = 20;
const EDGEFUSE = join(PACKAGE_ROOT, "bin", "edgefuse");
const AGENT = join(PACKAGE_ROOT, "dist", "lab", "hub-agent.js");

export const workerId = (k: number): string => `w${k}`;
/** The lab device (0-based) whose link worker wK uses, from its worker id; -1 for anything else. */
export const labDeviceOfWorker = (id: string): number => (/^w[1-9]\d*$/.test(id) ? Number(id.slice(1)) - 1 : -1);

export class LabSession {
  private processes: { name: string; child: ChildProcess; tail: string[] }[] = [];
  private pending = new Map<number, { resolve: (r: HubReply) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private agent: ChildProcess | undefined;
  /** Measured rate of every worker link, up and down, at the current bandwidth. */
  linkRates: LinkRate[] = [];
  bandwidthMbit: number;

  private constructor(
    readonly lab: Lab,
    private readonly o: SessionOptions,
  ) {
    this.bandwidthMbit = o.bandwidthMbit;
  }

  static async open(o: SessionOptions): Promise<LabSession> {
    const lab = await createLab({
      devices: Math.max(1, o.devices - 1),
      bandwidthMbit: o.bandwidthMbit,
      cpuShare: o.cpuShare,
      hubCpuShare: o.cpuShare,
      ...(o.namePrefix ? { namePrefix: o.namePrefix } : {}),
    });
    const session = new LabSession(lab, o);
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

  /** Re-plan and wait until every device holds its shards (not timed: start-up). */
  async plan(planning: LabPlanning): Promise<PlanReply> {
    return (await this.ask({ op: "plan", planning, timeoutMs: this.o.planTimeoutMs ?? 600_000 })) as PlanReply;
  }

  async infer(requestId: string): Promise<InferReply> {
    return (await this.ask({ op: "infer", requestId, timeoutMs: this.o.requestTimeoutMs ?? 600_000 })) as InferReply;
  }

  /** Stop the deployment, change every link's rate, measure the links, start afresh. */
  async setBandwidth(mbit: number): Promise<void> {
    await this.stopProcesses();
    await this.lab.setBandwidth(mbit);
    this.bandwidthMbit = mbit;
    await this.measureLinks();
    await this.start();
  }

  async close(): Promise<void> {
    await this.stopProcesses();
    await this.lab.destroy();
  }

  private async measureLinks(): Promise<void> {
    this.linkRates = [];
    for (let k = 0; k < this.workers; k++) {
      for (const direction of ["up", "down"] as const) {
        this.linkRates.push(await measureLinkRate(this.lab, k, direction, { durationMs: this.o.linkProbeMs ?? 1000 }));
      }
    }
  }

  private async start(): Promise<void> {
    const config: HubAgentConfig = {
      cfg: this.o.cfg,
      weights: this.o.weights,
      image: this.o.image,
      devices: this.o.devices,
      deployment: "lab",
      port: BROKER_PORT,
      maxPacketBytes: MAX_PACKET_BYTES,
    };
    const agent = this.spawn("hub", "hub", [process.execPath, AGENT], {
      env: { [HUB_AGENT_ENV]: JSON.stringify(config) },
    });
    this.agent = agent;
    const replies = createInterface({ input: agent.stdout! });
    replies.on("line", (line) => {
      let reply: HubReply;
      try {
        reply = JSON.parse(line) as HubReply;
      } catch {
        return this.o.log?.(`hub: ${line}`);
      }
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      waiting?.resolve(reply);
    });
    agent.once("exit", (code, signal) => {
      const err = new LabError(`the hub agent exited (${code ?? signal}): ${this.tailOf("hub")}`);
      for (const w of this.pending.values()) w.reject(err);
      this.pending.clear();
    });
    await this.reply(0); // listening

    const common = ["--deployment", "lab", "--max-packet", String(MAX_PACKET_BYTES), "--memory", "4096"];
    // The source sits beside the broker: loopback, no link of its own (it holds the input).
    this.spawn(
      "source",
      "hub",
      [
        EDGEFUSE,
        "source",
        "--broker",
        `mqtt://127.0.0.1:${BROKER_PORT}`,
        "--id",
        "source",
        "--timeout-ms",
        String(this.o.requestTimeoutMs ?? 600_000),
        ...common,
      ],
      { cpuLimit: true },
    );
    for (let k = 1; k < this.o.devices; k++) {
      this.spawn(workerId(k), k - 1, [
        EDGEFUSE,
        "worker",
        "--broker",
        `mqtt://${this.lab.brokerAddress}:${BROKER_PORT}`,
        "--id",
        workerId(k),
        ...common,
      ]);
    }
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
    if (name !== "hub") child.stdout!.resume();
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
  ): Promise<PlanReply | InferReply> {
    if (!this.agent?.stdin) throw new LabError("the lab's deployment is not running");
    const id = this.nextId++;
    const answer = this.reply(id);
    this.agent.stdin.write(`${JSON.stringify({ ...request, id })}\n`);
    const reply = await answer;
    return reply.body as PlanReply | InferReply;
  }

  private reply(id: number): Promise<Extract<HubReply, { ok: true }>> {
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        resolve: (r) => (r.ok ? resolve(r) : reject(new LabError(`hub: ${r.error}\n  ${this.tailOf("hub")}`))),
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

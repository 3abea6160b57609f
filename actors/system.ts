/**
 * A whole deployment on this machine: the embedded broker, the planner, the source
 * (the N-th device, in this process) and N−1 workers — as child processes (`edgefuse
 * up`) or in this process (tests). Also used against an external broker.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../core/paths.js";
import { EdgefuseError } from "../core/errors.js";
import type { Network } from "../dnn/network.js";
import { DEVICE_RUNTIME_OPTIONS, onnxRuntime, type Runtime } from "../dnn/onnx/runtime.js";
import { openWeights } from "../dnn/weights.js";
import { type Bus, connectBus } from "../broker/bus.js";
import { decodePresence } from "../broker/messages.js";
import { deploymentLogins, type Login } from "../broker/auth.js";
import { brokerDefaults, type BrokerOptions, type RunningBroker, startBroker } from "../broker/server.js";
import { topicsFor } from "../broker/topics.js";
import type { PlanOptions } from "../planner/build.js";
import { type PlannerActor, startPlanner } from "../planner/actor.js";
import { type DeviceLinks, presenceWill } from "./runtime/device.js";
import { measureGmacPerSec } from "./runtime/speed.js";
import { connectSourceBuses } from "./source/connections.js";
import type { SourceOptions } from "./source/options.js";
import { type SourceActor, startSource } from "./source/source.js";
import { startWorker, type WorkerActor } from "./worker/worker.js";
import { workerClientId } from "../broker/traffic.js";
import { DEFAULT_MAX_PACKET_BYTES } from "../broker/client.js";
import { REGION_DEFAULTS } from "../dnn/detect/region.js";
import { DEFAULT_DEVICE_MEMORY_MB } from "./defaults.js";
import { linkedChild } from "./parent-link.js";

export interface SystemOptions {
  readonly network: Network;
  readonly weightsPath: string;
  /** Devices in all: the source plus devices − 1 workers. */
  readonly devices: number;
  /** Use this broker instead of starting the embedded one. */
  readonly brokerUrl?: string;
  /** The address the embedded broker listens on (127.0.0.1: this machine only). */
  readonly host: string;
  readonly port: number;
  /**
   * Who besides this system's own actors may use the embedded broker: an auth file's users,
   * and what anonymous clients may do, and TLS. Its own actors log in as users made here
   * (auth.ts deploymentLogins), over the broker's plain loopback listener when it serves TLS.
   * Anonymous clients are trusted by default, for tests that watch a deployment anonymously;
   * `up` makes them guests.
   */
  readonly access: Pick<BrokerOptions, "auth" | "anonymous" | "tls">;
  readonly deployment: string;
  readonly workers: "process" | "inline";
  readonly workerMemoryMB: number;
  readonly thresh: number;
  /** The source's class names (SourceOptions.classNames). */
  readonly classNames?: readonly string[];
  readonly planning: Partial<Omit<PlanOptions, "devices">>;
  readonly maxPacketBytes: number;
  readonly jobTimeoutMs: number;
  /** How many requests the source runs at once and lets wait (source/admission.ts); the source's defaults when absent. */
  readonly admission?: Partial<Pick<SourceOptions, "inFlight" | "queue" | "overflow">>;
  readonly log: (line: string) => void;
  readonly onOutput?: (requestId: string, output: Float32Array, planId: string) => void;
  /** Home Assistant discovery under this prefix (the source's homeAssistantPrefix). */
  readonly homeAssistantPrefix?: string;
  readonly publishAnnotated?: boolean;
  /**
   * The speed every device announces. Unless given, this process measures it once
   * (runtime/speed.ts) and gives it to every device it starts: they share this
   * machine's cores, and N probes at once would each see a fraction of them.
   */
  readonly gmacPerSec?: number;
  /** Each device's link rates, the source first, then worker-1 onwards; a device beyond the list announces none. */
  readonly links?: readonly DeviceLinks[];
  /** The embedded broker also serves MQTT over WebSocket (a free port) and publishes its stats: what a browser viewer needs (`up --view`). */
  readonly forViewer?: boolean;
}
export const systemDefaults = {
  host: brokerDefaults.host,
  port: brokerDefaults.port,
  access: { anonymous: "trusted" } as SystemOptions["access"],
  deployment: "default",
  workers: "process",
  workerMemoryMB: DEFAULT_DEVICE_MEMORY_MB,
  thresh: REGION_DEFAULTS.thresh,
  planning: {},
  maxPacketBytes: DEFAULT_MAX_PACKET_BYTES,
  jobTimeoutMs: 30_000,
  log: (line: string) => console.error(line),
} satisfies Partial<SystemOptions>;

export interface WorkerHandle {
  readonly id: string;
  /** The worker's process, when it has its own. */
  readonly pid?: number;
  /** Ends the worker abruptly, as a crash would (its last will fires). */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface LocalSystem {
  readonly brokerUrl: string;
  readonly broker?: RunningBroker;
  readonly source: SourceActor;
  planner: PlannerActor;
  readonly workers: WorkerHandle[];
  readonly deployment: string;
  /** A client user of the embedded broker for this process's own requests (`up --infer`); none on another broker. */
  readonly clientLogin?: Login;
  /** A viewer user of the embedded broker, for the page `up --view` serves; none on another broker. */
  readonly viewerLogin?: Login;
  /** Restarts the planner with other planning options; resolves with the new plan's id once every device is ready for it. */
  replan(planning: Partial<Omit<PlanOptions, "devices">>): Promise<string>;
  stop(): Promise<void>;
}

/** What every device started here is given: the speed it announces and its link rates (by device index, the source 0). */
interface Started {
  readonly gmacPerSec: number;
  readonly links: (index: number) => DeviceLinks;
}

let measuredHere: Promise<number> | undefined;
/** This machine's speed, measured once however many systems this process starts (tests start several). */
const machineSpeed = (runtime: Runtime): Promise<number> => (measuredHere ??= measureGmacPerSec(runtime));

/** The flags that tell a worker process its speed and links (the worker command's). */
function deviceArgs(started: Started, index: number): string[] {
  const links = started.links(index);
  return [
    "--gmac-per-sec",
    String(started.gmacPerSec),
    ...(links.uplinkBitsPerSec === undefined ? [] : ["--uplink", String(links.uplinkBitsPerSec)]),
    ...(links.downlinkBitsPerSec === undefined ? [] : ["--downlink", String(links.downlinkBitsPerSec)]),
  ];
}

/** Devices in this process share it: its memory is not one device's baseline (each counts 0). */
const SHARED_PROCESS = { baselineBytes: 0 };

function processWorker(
  url: string,
  id: string,
  o: SystemOptions,
  device: Started,
  index: number,
  login: Login | undefined,
): WorkerHandle {
  const args = [
    "worker",
    "--broker",
    url,
    "--id",
    id,
    "--deployment",
    o.deployment,
    "--memory",
    String(o.workerMemoryMB),
    "--max-packet",
    String(o.maxPacketBytes),
    ...deviceArgs(device, index),
    ...(login ? ["--username", login.username] : []),
  ];
  // Linked (parent-link.ts): the worker ends when this process does, even killed with SIGKILL.
  const linked = linkedChild(["ignore", "inherit", "pipe"]);
  // The password by the environment, as the worker command reads it: not on a command line others can list.
  const env = login ? { ...linked.env, EDGEFUSE_MQTT_PASSWORD: login.password } : linked.env;
  const child: ChildProcess = spawn(join(PACKAGE_ROOT, "bin", "edgefuse"), args, { ...linked, env });
  child.stderr!.on("data", (d: Buffer) => {
    for (const line of d.toString().split("\n")) if (line) o.log(`[${id}] ${line}`);
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const signal = async (s: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(s);
    await exited;
  };
  return { id, pid: child.pid, kill: () => signal("SIGKILL"), stop: () => signal("SIGTERM") };
}

async function inlineWorker(
  url: string,
  id: string,
  o: SystemOptions,
  runtime: Runtime,
  device: Started,
  index: number,
  login: Login | undefined,
): Promise<WorkerHandle> {
  const topics = topicsFor(o.deployment);
  const bus = await connectBus(url, {
    ...login,
    clientId: workerClientId(id),
    will: presenceWill(topics, id),
    reconnectPeriodMs: 0,
    maxPacketBytes: o.maxPacketBytes,
  });
  const worker: WorkerActor = await startWorker({
    bus,
    deployment: o.deployment,
    workerId: id,
    runtime,
    gmacPerSec: device.gmacPerSec,
    ...device.links(index),
    memoryBudgetBytes: o.workerMemoryMB * 1e6,
    ...SHARED_PROCESS,
    log: o.log,
  });
  let down = false;
  return {
    id,
    // A forced close drops the connection without DISCONNECT, so the broker sends the will.
    kill: async () => {
      if (down) return;
      down = true;
      await bus.close({ force: true });
    },
    stop: async () => {
      if (down) return;
      down = true;
      await worker.stop();
      await bus.close();
    },
  };
}

/** Resolves when `count` devices have announced themselves. */
async function devicesPresent(bus: Bus, deployment: string, count: number, timeoutMs: number): Promise<void> {
  const topics = topicsFor(deployment);
  const present = new Set<string>();
  let unsubscribe = async () => {};
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new EdgefuseError(
            "not-ready",
            `only ${present.size} of ${count} devices announced themselves within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    void bus
      .subscribe(topics.filters.worker(), {
        onMessage: (topic, payload) => {
          const p = decodePresence(topic, payload);
          const parsed = topics.parse(topic);
          if (parsed?.kind !== "worker") return;
          if (p) present.add(parsed.workerId);
          else present.delete(parsed.workerId);
          if (present.size >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
        onError: () => undefined,
      })
      .then((s) => (unsubscribe = () => s.unsubscribe()), reject);
  });
  await unsubscribe();
}

/** What to undo when the system stops, in the order things started (stopped last first). */
type Stops = (() => Promise<void>)[];

export async function startLocalSystem(
  options: Pick<SystemOptions, "network" | "weightsPath" | "devices"> & Partial<SystemOptions>,
): Promise<LocalSystem> {
  const o = { ...systemDefaults, ...options } satisfies SystemOptions;
  if (!Number.isInteger(o.devices) || o.devices < 1)
    throw new EdgefuseError("usage", `devices must be a whole number ≥ 1, got ${o.devices}`);
  const stops: Stops = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => o.log(`stopping: ${String(err)}`));
  };
  try {
    const workerIds = Array.from({ length: o.devices - 1 }, (_, i) => workerIdOf(i + 1));
    const logins = o.brokerUrl ? undefined : deploymentLogins(o.deployment, workerIds);
    const broker = logins
      ? await startBroker({
          port: o.port,
          host: o.host,
          log: () => undefined,
          ...o.access,
          ...(o.access.tls && { localPort: 0 }),
          localUsers: logins.users,
          ...(o.forViewer && { wsPort: 0, stats: { deployment: o.deployment } }),
        })
      : undefined;
    if (broker) stops.push(() => broker.close());
    const url = o.brokerUrl ?? broker!.localUrl ?? broker!.url;
    const runtime = onnxRuntime(DEVICE_RUNTIME_OPTIONS);
    const device: Started = {
      gmacPerSec: o.gmacPerSec ?? (await machineSpeed(runtime)),
      links: (index) => o.links?.[index] ?? {},
    };
    const source = await startSourceDevice(url, o, runtime, device, stops, logins?.source);
    const workers = await startWorkers(url, o, runtime, device, stops, logins?.worker);

    // Plan once every device is there, not for each one as it arrives.
    const plannerBus = await connectBus(url, {
      ...logins?.planner,
      clientId: `planner-${o.deployment}`,
      maxPacketBytes: o.maxPacketBytes,
    });
    stops.push(() => plannerBus.close());
    await devicesPresent(plannerBus, o.deployment, o.devices, 120_000);
    const weights = openWeights(o.weightsPath, o.network);
    stops.push(async () => weights.close());
    const plannerFor = (planning: Partial<Omit<PlanOptions, "devices">>) =>
      startPlanner({ bus: plannerBus, deployment: o.deployment, network: o.network, weights, planning, log: o.log });
    const system: LocalSystem = {
      brokerUrl: url,
      broker,
      source,
      planner: await plannerFor(o.planning),
      workers,
      deployment: o.deployment,
      ...(logins && { clientLogin: logins.client, viewerLogin: logins.viewer }),
      stop: stopAll,
      async replan(planning) {
        await system.planner.stop({ keepPlan: true }); // the next planner takes its topic over
        system.planner = await plannerFor(planning);
        return switchedToNextPlan(source, system.planner);
      },
    };
    stops.push(() => system.planner.stop());
    return system;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The N-th device, in this process: the source with its three connections (data, the deployment's status, its load). */
async function startSourceDevice(
  url: string,
  o: SystemOptions,
  runtime: Runtime,
  device: Started,
  stops: Stops,
  login: Login | undefined,
): Promise<SourceActor> {
  const { maxPacketBytes } = o;
  const { bus, statusBus, loadBus, close } = await connectSourceBuses(
    topicsFor(o.deployment),
    { clientIdBase: o.deployment, sourceId: "source" },
    (clientId, will) => connectBus(url, { ...login, clientId, will, maxPacketBytes }),
  );
  stops.push(close);
  const source = await startSource({
    bus,
    statusBus,
    loadBus,
    deployment: o.deployment,
    sourceId: "source",
    runtime,
    gmacPerSec: device.gmacPerSec,
    ...device.links(0),
    memoryBudgetBytes: o.workerMemoryMB * 1e6,
    ...(o.workers === "inline" ? SHARED_PROCESS : {}),
    thresh: o.thresh,
    ...(o.classNames && { classNames: o.classNames }),
    jobTimeoutMs: o.jobTimeoutMs,
    ...o.admission,
    log: o.log,
    ...(o.onOutput ? { onOutput: o.onOutput } : {}),
    ...(o.homeAssistantPrefix !== undefined ? { homeAssistantPrefix: o.homeAssistantPrefix } : {}),
    ...(o.publishAnnotated ? { publishAnnotated: true } : {}),
  });
  stops.push(() => source.stop());
  return source;
}

const workerIdOf = (index: number) => `worker-${index}`;

/** The devices − 1 workers, worker-1 onwards, as child processes or in this process. */
async function startWorkers(
  url: string,
  o: SystemOptions,
  runtime: Runtime,
  device: Started,
  stops: Stops,
  loginOf: ((id: string) => Login) | undefined,
): Promise<WorkerHandle[]> {
  const workers: WorkerHandle[] = [];
  for (let i = 1; i < o.devices; i++) {
    const id = workerIdOf(i);
    const login = loginOf?.(id);
    const handle =
      o.workers === "inline"
        ? await inlineWorker(url, id, o, runtime, device, i, login)
        : processWorker(url, id, o, device, i, login);
    workers.push(handle);
    stops.push(() => handle.stop());
  }
  return workers;
}

/** Waits for the planner's next plan, then until the source has switched to it and every device is ready; its id. */
async function switchedToNextPlan(source: SourceActor, planner: PlannerActor): Promise<string> {
  const next = await planner.nextPlan();
  if (!next) throw new EdgefuseError("plan", "the planner published no plan for these devices");
  const deadline = Date.now() + 120_000;
  while (source.readyPlanId() !== next.id) {
    if (Date.now() > deadline)
      throw new EdgefuseError("not-ready", `the source did not switch to plan ${next.id} within 120 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return source.ready();
}

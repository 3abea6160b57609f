/**
 * The deployment a chaos run attacks: the planner, the source and N−1 workers, each an
 * `edgefuse` process of its own on the run's Mosquitto, as on separate devices. A worker
 * can be SIGKILLed and started again under its id (a device that crashed and rebooted).
 */
import { type Child, type LineSink, spawnEdgefuse } from "./processes.js";

export interface DeploymentOptions {
  readonly brokerUrl: string;
  readonly deployment: string;
  readonly cfg: string;
  readonly weights: string;
  /** Devices in all: the source and devices − 1 workers. */
  readonly devices: number;
  /** The source's deadline for one job (`edgefuse source --timeout-ms`). */
  readonly jobTimeoutMs: number;
  readonly log: LineSink;
  /**
   * For a broker with users (and TLS): the user each actor logs in as — the planner, the
   * source (device id `source`) and each worker by its id — and the CA its certificate is
   * signed by. The actors take them as a user gives them: --username, the password in
   * EDGEFUSE_MQTT_PASSWORD, --ca.
   */
  readonly login?: (role: "planner" | "source" | "worker", deviceId?: string) => ActorLogin;
}

export interface ActorLogin {
  readonly username: string;
  readonly password: string;
  readonly caFile?: string;
}

/** The flags and environment that log an actor in as `login`. */
function loginOf(login: ActorLogin | undefined): { flags: string[]; env?: NodeJS.ProcessEnv } {
  if (!login) return { flags: [] };
  return {
    flags: ["--username", login.username, ...(login.caFile ? ["--ca", login.caFile] : [])],
    env: { ...process.env, EDGEFUSE_MQTT_PASSWORD: login.password },
  };
}

/**
 * Every device takes a part of every layer (LOP, no FTP, least communication): a plan
 * chosen for speed may leave a worker out on one machine, and then killing it would
 * test nothing.
 */
export const CHAOS_PLANNING = ["--scheme", "lop", "--ftp-layers", "0", "--objective", "comm"] as const;

/** One speed for every device: no start-up probe, and plans that do not vary with the machine's load. */
const DEVICE_SPEED = ["--gmac-per-sec", "50"] as const;

export interface ChaosDeployment {
  readonly workerIds: readonly string[];
  /** The worker's current process, if it is running. */
  worker(id: string): Child | undefined;
  killWorker(id: string): Promise<void>;
  startWorker(id: string): void;
  stop(): Promise<void>;
}

export function startChaosDeployment(o: DeploymentOptions): ChaosDeployment {
  const on = ["--broker", o.brokerUrl, "--deployment", o.deployment];
  const as = (role: "planner" | "source" | "worker", deviceId?: string) => loginOf(o.login?.(role, deviceId));
  const plannerLogin = as("planner");
  const planner = spawnEdgefuse(
    "planner",
    [
      "planner",
      ...on,
      ...plannerLogin.flags,
      ...["--cfg", o.cfg, "--weights", o.weights, "--devices", String(o.devices), ...CHAOS_PLANNING],
    ],
    o.log,
    plannerLogin.env,
  );
  const sourceLogin = as("source", "source");
  const source = spawnEdgefuse(
    "source",
    ["source", ...on, ...sourceLogin.flags, "--id", "source", "--timeout-ms", String(o.jobTimeoutMs), ...DEVICE_SPEED],
    o.log,
    sourceLogin.env,
  );
  const workerIds = Array.from({ length: o.devices - 1 }, (_, i) => `worker-${i + 1}`);
  const workers = new Map<string, Child>();
  const startWorker = (id: string) => {
    const login = as("worker", id);
    workers.set(
      id,
      spawnEdgefuse(id, ["worker", ...on, ...login.flags, "--id", id, ...DEVICE_SPEED], o.log, login.env),
    );
  };
  for (const id of workerIds) startWorker(id);
  return {
    workerIds,
    worker: (id) => workers.get(id),
    killWorker: async (id) => workers.get(id)?.stop("SIGKILL"),
    startWorker,
    async stop() {
      // Devices first, each stopping gracefully (it withdraws its presence), then the planner (it clears the plan).
      await Promise.all([...workers.values(), source].map((c) => c.stop("SIGTERM")));
      await planner.stop("SIGTERM");
    },
  };
}

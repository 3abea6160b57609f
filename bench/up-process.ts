/**
 * `edgefuse up` as a child process for the benchmarks (soak.ts, stream.ts,
 * throughput.ts): started, waited for until it says it is ready, its worker processes
 * found, every process's resident memory read from /proc, and a camera on it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Bus, connectBus } from "../broker/bus.js";
import { decodeLoad, type Load } from "../broker/messages.js";
import { type Topics, topicsFor } from "../broker/topics.js";
import { runStream, type StreamOptions, type StreamReport } from "../cli/camera-stream.js";
import { freePort } from "../core/local-ports.js";
import { PACKAGE_ROOT } from "../core/paths.js";
import { type Child, spawnChild } from "./chaos/processes.js";

const READY_TIMEOUT_MS = 180_000;

/** A process's resident memory now (VmRSS) and at its peak so far (VmHWM), MB (Linux /proc). */
export function memoryMB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => {
    const kb = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1];
    if (kb === undefined) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(kb) / 1024;
  };
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

/** VmRSS of a process, in MB. */
export const rssMB = (pid: number): number => memoryMB(pid).rss;

/** The worker processes `up` started: its children, by the --id on their command line. */
function workerPids(upPid: number): Map<string, number> {
  const found = new Map<string, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(join("/proc", entry, "stat"), "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== upPid) continue;
      const argv = readFileSync(join("/proc", entry, "cmdline"), "utf8").split("\0");
      const id = argv[argv.indexOf("--id") + 1];
      if (argv.includes("worker") && id) found.set(id, Number(entry));
    } catch {
      // a process that ended while the table was read
    }
  }
  return found;
}

export interface UpOptions {
  readonly port: number;
  readonly devices: number;
  readonly cfg: string;
  readonly weights: string;
  /** More flags for `up` (planning, admission). */
  readonly args?: readonly string[];
  /** Its output lines, the recent ones kept for an error message. */
  readonly lines: string[];
}

/** Starts `up` and resolves once it says it is ready, with its processes by name: `up`, `worker-1`, … */
export async function startUp(o: UpOptions): Promise<{ up: Child; pids: Map<string, number> }> {
  const { lines } = o;
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const up: Child = spawnChild(
    "up",
    join(PACKAGE_ROOT, "bin", "edgefuse"),
    [
      "up",
      "--devices",
      String(o.devices),
      "--port",
      String(o.port),
      "--cfg",
      o.cfg,
      "--weights",
      o.weights,
      ...(o.args ?? []),
    ],
    (line) => {
      lines.push(line);
      if (lines.length > 1_000) lines.splice(0, 500); // the recent ones, for an error message
      if (/\] ready: /.test(line)) ready();
    },
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`up not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
  });
  const died = up.exited.then((how) => {
    throw new Error(`up ${how} before it was ready:\n${lines.slice(-20).join("\n")}`);
  });
  died.catch(() => undefined); // it ends when the benchmark stops it too: only the race below reads this
  try {
    await Promise.race([isReady, timeout, died]);
  } catch (err) {
    await up.stop("SIGKILL");
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const workers = workerPids(up.pid!);
  if (workers.size !== o.devices - 1)
    throw new Error(`found ${workers.size} worker processes of up, not ${o.devices - 1}`);
  return {
    up,
    pids: new Map<string, number>([["up", up.pid!], ...[...workers].sort(([a], [b]) => a.localeCompare(b))]),
  };
}

/** A running `up` with a client on it: its processes, the source's last load, and a camera (runStream). */
export interface UpClient {
  readonly bus: Bus;
  readonly topics: Topics;
  readonly pids: ReadonlyMap<string, number>;
  /** The source's retained load as last heard (actors/source/load.ts). */
  load(): Load | null;
  stream(fps: number, count: number, more?: Pick<StreamOptions, "onSent" | "progress">): Promise<StreamReport>;
}

/** Starts `up` on a free port, runs `work` with a client on it, and stops it whatever happens. */
export async function withUp<T>(
  o: Omit<UpOptions, "port" | "lines"> & { readonly image: Buffer; readonly timeoutMs: number },
  work: (up: UpClient) => Promise<T>,
): Promise<T> {
  const port = await freePort();
  const lines: string[] = [];
  const { up, pids } = await startUp({ ...o, port, lines });
  const topics = topicsFor("default");
  let bus: Bus | undefined;
  try {
    bus = await connectBus(`mqtt://127.0.0.1:${port}`, { clientId: `bench-${process.pid}` });
    let load: Load | null = null;
    await bus.subscribe(topics.load(), {
      onMessage: (topic, payload) => {
        load = decodeLoad(topic, payload);
      },
      onError: () => undefined,
    });
    const client = bus;
    return await work({
      bus,
      topics,
      pids,
      load: () => load,
      stream: (fps, count, more = {}) =>
        runStream(client, topics, { fps, count, images: [o.image], timeoutMs: o.timeoutMs, ...more }),
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\nup's last lines:\n${lines.slice(-20).join("\n")}`);
  } finally {
    await bus?.close();
    await up.stop("SIGINT", 20_000);
  }
}

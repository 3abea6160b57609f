/**
 * A real Mosquitto on one port that the chaos run (and the recovery suite) can kill and
 * start again on that same port, as a broker host that crashes and comes back: without
 * persistence, so the new one has forgotten every session, subscription and retained
 * message, and (killed, not stopped) it sent no last wills; or with a persistence
 * database, which brings back what it last saved.
 */
import { existsSync, statSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EdgefuseError } from "../../core/errors.js";
import { acceptsConnections, freePort } from "../../core/local-ports.js";
import { type Child, type LineSink, spawnChild } from "./processes.js";

/** Debian's path unless EDGEFUSE_MOSQUITTO names another binary (as the test suites find it). */
export const MOSQUITTO_BIN = process.env.EDGEFUSE_MOSQUITTO ?? "/usr/sbin/mosquitto";

const LISTEN_TIMEOUT_MS = 5_000;

/**
 * A Mosquitto configuration on 127.0.0.1:`port` for a broker of its own (the chaos run's,
 * the test suites'): anonymous clients (unless `anonymous` is false: then only users of a
 * password file), no persistence (unless `persistenceDir` says where to keep it), errors
 * and warnings on stderr; `more` lines after those (a listener's own settings, such as
 * its TLS files, apply to this one listener).
 */
export const mosquittoConfig = (
  port: number,
  more: readonly string[] = [],
  { anonymous = true, persistenceDir }: { anonymous?: boolean; persistenceDir?: string } = {},
): string =>
  [
    `listener ${port} 127.0.0.1`,
    `allow_anonymous ${anonymous}`,
    // Saved when told (SIGUSR1) or on a graceful stop, not every 30 minutes: a SIGKILL then loses what came after.
    ...(persistenceDir
      ? ["persistence true", `persistence_location ${persistenceDir}/`, "autosave_interval 0"]
      : ["persistence false"]),
    "log_dest stderr",
    "log_type error",
    "log_type warning",
    ...more,
    "",
  ].join("\n");

export interface RestartableBroker {
  readonly url: string;
  readonly port: number;
  /** SIGKILLs it and waits until it has exited. */
  kill(): Promise<void>;
  /** With persistence: writes its database now (SIGUSR1) and resolves once the file is written. */
  save(): Promise<void>;
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it for good and removes its configuration. */
  close(): Promise<void>;
}

export async function startRestartableMosquitto(o: {
  port: number;
  log: LineSink;
  /** Keep a persistence database (saved only by save() and a graceful stop): what a SIGKILL brings back. */
  persistent?: boolean;
}): Promise<RestartableBroker> {
  if (!existsSync(MOSQUITTO_BIN))
    throw new EdgefuseError(
      "usage",
      `Mosquitto not found at ${MOSQUITTO_BIN}: install it (apt-get install mosquitto) or point EDGEFUSE_MOSQUITTO at the binary`,
    );
  const port = o.port || (await freePort());
  const dir = await mkdtemp(join(tmpdir(), "edgefuse-chaos-"));
  const conf = join(dir, "mosquitto.conf");
  await writeFile(conf, mosquittoConfig(port, [], o.persistent ? { persistenceDir: dir } : {}));
  // Started as root, Mosquitto writes its database as the user it drops to ("mosquitto"), after mkdtemp's 0700.
  if (o.persistent) await chmod(dir, 0o777);
  const database = join(dir, "mosquitto.db");
  let child: Child | undefined;
  const start = async () => {
    child = spawnChild("mosquitto", MOSQUITTO_BIN, ["-c", conf], o.log);
    await listening(port, child);
  };
  await start().catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    kill: async () => child?.stop("SIGKILL"),
    async save() {
      if (!o.persistent || !child?.pid)
        throw new EdgefuseError("broker", "save() needs a running persistent Mosquitto");
      const before = existsSync(database) ? statSync(database).mtimeMs : 0;
      process.kill(child.pid, "SIGUSR1");
      const deadline = performance.now() + LISTEN_TIMEOUT_MS;
      while (!existsSync(database) || statSync(database).mtimeMs === before) {
        if (performance.now() > deadline)
          throw new EdgefuseError("broker", `Mosquitto wrote no ${database} within ${LISTEN_TIMEOUT_MS} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    start,
    async close() {
      await child?.stop("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once `port` accepts a TCP connection; fails when the broker exits or after LISTEN_TIMEOUT_MS. */
async function listening(port: number, child: Child): Promise<void> {
  const deadline = performance.now() + LISTEN_TIMEOUT_MS;
  for (;;) {
    if (!child.running) throw new EdgefuseError("broker", `Mosquitto on port ${port} ${await child.exited} at start`);
    if (await acceptsConnections(port)) return;
    if (performance.now() > deadline)
      throw new EdgefuseError("broker", `Mosquitto did not listen on port ${port} within ${LISTEN_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

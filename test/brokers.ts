/**
 * Brokers for tests, all behind one shape (TestBroker), and the one teardown helper.
 *
 * - startEmbedded(): the aedes broker of broker/server.ts on a free port.
 * - startMosquitto(): a real Mosquitto (Debian's /usr/sbin/mosquitto) with a temp
 *   config; with `maxPacketBytes` it enforces `max_packet_size`, so chunking is
 *   tested against a broker that really drops oversized packets.
 * - startSecuredMosquitto(): Mosquitto over TLS with users and edgefuse's ACL file.
 *
 * Mosquitto is a test dependency: .ci/run installs it. When it is missing the
 * harness fails with a message saying how to install it; it never skips.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type BrokerOptions, type RunningBroker } from "../broker/server.js";
import type { TestBroker } from "../broker/test-support.js";
import { type AclUser, mosquittoAcl } from "../broker/mosquitto-acl.js";
import { makeTestCertificates, type TestCertificates } from "../broker/tls-test-support.js";
import { MOSQUITTO_BIN, mosquittoConfig } from "../bench/chaos/mosquitto.js";
import { acceptsConnections, freePort } from "../core/local-ports.js";

// The broker's shape, the teardown and the message queue live beside the broker contract.
export type { StartTestBroker, TestBroker, TestLogin } from "../broker/test-support.js";
export { inbox, loginOptions, MOSQUITTO_PUB_BIN, Teardown, useTeardown } from "../broker/test-support.js";

/** From the mosquitto-clients package, beside mosquitto_pub. */
const MOSQUITTO_PASSWD_BIN = "/usr/bin/mosquitto_passwd";

// ---------------------------------------------------------------------------
// embedded aedes

export async function startEmbedded(
  options: Partial<BrokerOptions> = {},
): Promise<TestBroker & { broker: RunningBroker; logLines: string[] }> {
  const logLines: string[] = [];
  // Anonymous clients trusted unless a test says otherwise: the suites play every actor without users.
  const broker = await startBroker({ port: 0, anonymous: "trusted", log: (line) => logLines.push(line), ...options });
  return { name: "aedes (embedded)", url: broker.url, broker, logLines, close: () => broker.close() };
}

// ---------------------------------------------------------------------------
// Mosquitto

export { MOSQUITTO_BIN };

export interface MosquittoOptions {
  /** The mosquitto binary; MOSQUITTO_BIN by default. */
  binary?: string;
  /** Sets `max_packet_size`: Mosquitto drops a client that sends a larger packet. */
  maxPacketBytes?: number;
  /** Extra lines for mosquitto.conf (after the listener's: its own settings go here). */
  config?: string[];
  /** false: only users of a password_file (in `config`) may connect. */
  anonymous?: boolean;
  /** The listener speaks TLS (its cafile/certfile/keyfile in `config`): the url is mqtts://. */
  tls?: boolean;
  /** A name for the broker in test output. */
  name?: string;
  /** Makes files in the broker's own directory before it starts; returns the mosquitto.conf lines that name them. */
  prepare?: (dir: string) => Promise<string[]> | string[];
}

const STARTUP_TIMEOUT_MS = 5_000;

export async function startMosquitto(options: MosquittoOptions = {}): Promise<TestBroker> {
  const binary = options.binary ?? MOSQUITTO_BIN;
  if (!existsSync(binary)) {
    throw new Error(
      `Mosquitto not found at ${binary}: install it with ` +
        "`apt-get update && apt-get install -y --no-install-recommends mosquitto mosquitto-clients` " +
        "(.ci/run does), or point EDGEFUSE_MOSQUITTO at the binary",
    );
  }
  const dir = await mkdtemp(join(tmpdir(), "edgefuse-mosquitto-"));
  const prepared = await Promise.resolve(options.prepare?.(dir) ?? []).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  // Another process may grab a free port between our probe and Mosquitto's bind: retry.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = join(dir, "mosquitto.conf");
    await writeFile(
      conf,
      mosquittoConfig(
        port,
        [
          ...(options.maxPacketBytes ? [`max_packet_size ${options.maxPacketBytes}`] : []),
          ...prepared,
          ...(options.config ?? []),
        ],
        { anonymous: options.anonymous ?? true },
      ),
    );
    const child = spawn(binary, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    try {
      await waitForPort(port, child, () => stderr);
    } catch (err) {
      await stop(child);
      if (attempt < 3 && /address already in use/i.test(stderr)) continue;
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const limit = options.maxPacketBytes;
    return {
      name: options.name ?? (limit ? `mosquitto (max_packet_size ${limit})` : "mosquitto"),
      url: `${options.tls ? "mqtts" : "mqtt"}://127.0.0.1:${port}`,
      ...(limit && { maxPacketBytes: limit }),
      close: async () => {
        await stop(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

/**
 * Mosquitto as a team that runs its own would set it up for edgefuse: a TLS listener
 * with a certificate of a CA made here (openssl), no anonymous clients, a password_file
 * made with mosquitto_passwd and the acl_file edgefuse generates (broker/mosquitto-acl.ts)
 * for any deployment. Its users: one per role (the role's name: planner, source, client,
 * viewer, admin) and a worker per id in `workers`, named by that id.
 */
export async function startSecuredMosquitto(
  o: { workers?: readonly string[] } = {},
): Promise<TestBroker & { login: NonNullable<TestBroker["login"]>; certificates: TestCertificates }> {
  const users: (AclUser & { password: string })[] = [
    ...(["planner", "source", "client", "viewer", "admin"] as const).map((role) => ({ username: role, role })),
    ...(o.workers ?? SECURED_WORKERS).map((id) => ({ username: id, role: "worker" as const })),
  ].map((u) => ({ ...u, password: randomBytes(12).toString("hex") }));
  let certificates: TestCertificates | undefined;
  const broker = await startMosquitto({
    name: "mosquitto (TLS, password_file, edgefuse acl_file)",
    anonymous: false,
    tls: true,
    prepare: (dir) => {
      certificates = makeTestCertificates(dir);
      const passwords = join(dir, "passwords");
      writeFileSync(passwords, "");
      for (const u of users) execFileSync(MOSQUITTO_PASSWD_BIN, ["-b", passwords, u.username, u.password]);
      writeFileSync(join(dir, "acl"), mosquittoAcl({ users }));
      // Started as root, Mosquitto reads these as the user it drops to ("mosquitto"), after mkdtemp's 0700.
      chmodSync(dir, 0o755);
      for (const file of readdirSync(dir)) chmodSync(join(dir, file), 0o644);
      return [
        `cafile ${certificates.ca}`,
        `certfile ${certificates.serverCert}`,
        `keyfile ${certificates.serverKey}`,
        `password_file ${passwords}`,
        `acl_file ${join(dir, "acl")}`,
      ];
    },
  });
  return {
    ...broker,
    certificates: certificates!,
    login(role, deviceId) {
      const username = role === "worker" ? (deviceId ?? "worker") : role;
      const user = users.find((u) => u.username === username && u.role === role);
      if (!user) throw new Error(`the secured Mosquitto has no ${role} user ${username}`);
      return { username, password: user.password, caFile: certificates!.ca };
    },
  };
}

/** The workers startSecuredMosquitto makes users for unless told: the broker contract's and a 4-device deployment's. */
export const SECURED_WORKERS = ["worker", "w1", "worker-1", "worker-2", "worker-3"] as const;

export { freePort };

/** Resolves once `port` on 127.0.0.1 takes connections; fails when `child` exits first or the start-up time passes. */
export async function waitForPort(port: number, child: ChildProcess, stderr: () => string = () => ""): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`mosquitto exited (${child.exitCode ?? child.signalCode}) at start: ${stderr().trim()}`);
    }
    if (await acceptsConnections(port)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`mosquitto did not listen on ${port} within ${STARTUP_TIMEOUT_MS} ms: ${stderr().trim()}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 2_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Brokers for tests, all behind one shape (TestBroker), and the one teardown helper.
 *
 * - startEmbedded(): the aedes broker of broker/server.ts on a free port.
 * - startMosquitto(): a real Mosquitto (Debian's /usr/sbin/mosquitto) with a temp
 *   config; with `maxPacketBytes` it enforces `max_packet_size`, so chunking is
 *   tested against a broker that really drops oversized packets.
 *
 * Mosquitto is a test dependency: .ci/run installs it. When it is missing the
 * harness fails with a message saying how to install it; it never skips.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type BrokerOptions, type RunningBroker } from "../broker/server.js";
import type { TestBroker } from "../broker/test-support.js";
import { MOSQUITTO_BIN, mosquittoConfig } from "../bench/chaos/mosquitto.js";
import { acceptsConnections, freePort } from "../core/local-ports.js";

// The broker's shape, the teardown and the message queue live beside the broker contract.
export type { StartTestBroker, TestBroker } from "../broker/test-support.js";
export { inbox, MOSQUITTO_PUB_BIN, Teardown, useTeardown } from "../broker/test-support.js";

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
  /** Extra lines for mosquitto.conf. */
  config?: string[];
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
  // Another process may grab a free port between our probe and Mosquitto's bind: retry.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = join(dir, "mosquitto.conf");
    await writeFile(
      conf,
      mosquittoConfig(port, [
        ...(options.maxPacketBytes ? [`max_packet_size ${options.maxPacketBytes}`] : []),
        ...(options.config ?? []),
      ]),
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
      name: limit ? `mosquitto (max_packet_size ${limit})` : "mosquitto",
      url: `mqtt://127.0.0.1:${port}`,
      ...(limit && { maxPacketBytes: limit }),
      close: async () => {
        await stop(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

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

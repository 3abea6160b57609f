import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hashPassword, verifyPassword } from "../../broker/auth.js";
import { connectBroker } from "../../broker/client.js";
import { BrokerError } from "../../broker/errors.js";
import { TlsFileError } from "../../broker/tls.js";
import { makeTestCertificates } from "../../broker/tls-test-support.js";
import { topicsFor } from "../../broker/topics.js";
import { UsageError } from "../../core/errors.js";
import { useTeardown } from "../../test/brokers.js";
import { REPO_ROOT } from "../../test/fixtures.js";
import { connect } from "../connection.js";
import { brokerCommand, serveBroker, trafficTable, type BrokerFlags } from "./broker.js";

const flags = (extra: Partial<BrokerFlags> = {}): BrokerFlags => ({
  port: 0,
  host: "127.0.0.1",
  insecure: false,
  "hash-password": false,
  ...extra,
});

/** Serves until the returned stop is called; resolves once the broker said where it listens. */
async function serving(extra: Partial<BrokerFlags>, logLines: string[] = []) {
  const lines: string[] = [];
  let stop!: () => void;
  const done = serveBroker(
    flags(extra),
    new Promise<void>((r) => (stop = r)),
    (l) => lines.push(l),
    (l) => logLines.push(l),
  );
  await Promise.race([expect.poll(() => lines.length).toBe(1), done]);
  return {
    line: lines[0]!,
    url: lines[0]!.match(/ on (\S+?:\/\/\S+)/)![1]!.replace("0.0.0.0", "127.0.0.1"),
    stop: async () => {
      stop();
      await done;
    },
  };
}
const t = topicsFor("cli");

describe("edgefuse broker", () => {
  const teardown = useTeardown();

  it("serves until told to stop, then prints each client's traffic", async () => {
    const lines: string[] = [];
    let stop!: () => void;
    const serving = serveBroker(flags({ "ws-port": 0 }), new Promise<void>((r) => (stop = r)), (l) => lines.push(l));
    await expect.poll(() => lines.length).toBe(1);
    const [, url, wsUrl] = lines[0]!.match(
      /^edgefuse broker listening on (mqtt:\S+) and (ws:\S+) \(anonymous guests; this machine only; --host 0\.0\.0\.0 lets devices on the network join\)$/,
    )!;
    const client = teardown.client(await connectBroker(url!, { clientId: "cam", reconnectPeriodMs: 0 }));
    await client.publishAsync(t.infer("r"), Buffer.alloc(5000), { qos: 1 });
    teardown.client(await connectBroker(wsUrl!, { clientId: "ws-cam", reconnectPeriodMs: 0 }));
    stop();
    await serving;
    expect(lines[1]).toBe("edgefuse broker stopped; traffic per client:");
    expect(lines[2]).toMatch(/^ {2}client +bytesIn +bytesOut +messagesIn +messagesOut$/);
    expect(lines[3]).toMatch(/^ {2}cam +5\d{3} +\d+ +1 +0$/);
    expect(lines[4]).toMatch(/^ {2}ws-cam +\d+ +\d+ +0 +0$/);
  });

  it("loads users from --auth and refuses bad flags clearly", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edgefuse-broker-cli-"));
    teardown.add(() => rm(dir, { recursive: true, force: true }));
    const auth = join(dir, "auth.json");
    await writeFile(
      auth,
      JSON.stringify({ users: [{ username: "cam", password: await hashPassword("pw"), role: "client" }] }),
    );
    const lines: string[] = [];
    let stop!: () => void;
    const logLines: string[] = [];
    const serving = serveBroker(
      flags({ auth }),
      new Promise<void>((r) => (stop = r)),
      (l) => lines.push(l),
      (l) => logLines.push(l),
    );
    await expect.poll(() => lines.length).toBe(1);
    const url = lines[0]!.match(/(mqtt:\S+)/)![1]!;
    expect(lines[0]).toContain(`(users from ${auth}; `);
    await expect(connectBroker(url, { reconnectPeriodMs: 0 })).rejects.toThrow(/Bad username or password/);
    teardown.client(await connectBroker(url, { username: "cam", password: "pw", reconnectPeriodMs: 0 }));
    expect(logLines).toEqual([expect.stringMatching(/^refused client \S+ \(127\.0\.0\.1:\d+\): no username$/)]); // once, not twice
    stop();
    await serving;

    await expect(brokerCommand.run(["--port", "70000"])).rejects.toThrow(
      new UsageError(`--port: must be at most 65535\nusage: ${brokerCommand.usage}`),
    );
    await expect(brokerCommand.run(["--ws-port", "x"])).rejects.toThrow(/^--ws-port: expected a TCP port/);
    await expect(brokerCommand.run(["--auth", join(dir, "nope.json"), "--port", "0"])).rejects.toThrow(
      /nope\.json: cannot read/,
    );
  });

  it("drops a client whose packet is over --max-packet, and refuses a limit below the devices' smallest", async () => {
    const lines: string[] = [];
    const logLines: string[] = [];
    let stop!: () => void;
    const serving = serveBroker(
      flags({ "max-packet": 8192 }),
      new Promise<void>((r) => (stop = r)),
      (l) => lines.push(l),
      (l) => logLines.push(l),
    );
    await expect.poll(() => lines.length).toBe(1);
    const url = lines[0]!.match(/(mqtt:\S+)/)![1]!;
    const client = teardown.client(await connectBroker(url, { clientId: "cam", reconnectPeriodMs: 0 }));
    await client.publishAsync(t.infer("small"), Buffer.alloc(8000), { qos: 1 });
    const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    client.publish(t.infer("big"), Buffer.alloc(9000), { qos: 0 });
    await closed;
    expect(logLines).toEqual([
      expect.stringMatching(
        /^client cam \(.*\) dropped: a packet of \d+ bytes is over the broker's limit of 8192 \(maxPacketBytes\)$/,
      ),
    ]);
    stop();
    await serving;
    await expect(brokerCommand.run(["--max-packet", "1000"])).rejects.toThrow(
      /^--max-packet: must be ≥ 4096 bytes, the smallest device --max-packet/,
    );
  });

  it("refuses to listen beyond this machine without --auth or --insecure, in one line", async () => {
    const error = await serveBroker(flags({ host: "0.0.0.0" }), new Promise(() => {}), () => {}).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as Error).message).toBe(
      "mqtt://0.0.0.0:0: not listening: 0.0.0.0 is reachable beyond this machine: give users with --auth FILE, or --insecure to let anyone who reaches it do anything",
    );
    const open = await serving({ host: "0.0.0.0", insecure: true });
    expect(open.line).toMatch(
      /^edgefuse broker listening on mqtt:\/\/0\.0\.0\.0:\d+ \(anonymous clients trusted with everything \(--insecure\); every interface: /,
    );
    // Trusted: an anonymous client may even publish a plan.
    const client = teardown.client(await connectBroker(open.url, { clientId: "lab-planner", reconnectPeriodMs: 0 }));
    await client.publishAsync(t.plan(), "{}", { qos: 1 });
    await open.stop();
    await expect(brokerCommand.run(["--insecure", "--auth", "users.json"])).rejects.toThrow(
      /^--insecure: --insecure is for a broker without users: with --auth, anonymous clients are refused\nusage: /,
    );
    await expect(brokerCommand.run(["--tls-cert", "cert.pem"])).rejects.toThrow(
      /^--tls-cert: --tls-cert and --tls-key go together/,
    );
  });

  it("serves mqtts:// with --tls-cert and --tls-key, and an actor connects over it with --ca", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edgefuse-broker-tls-"));
    teardown.add(() => rm(dir, { recursive: true, force: true }));
    const files = makeTestCertificates(dir);
    const broker = await serving({ "tls-cert": files.serverCert, "tls-key": files.serverKey, "ws-port": 0 });
    expect(broker.line).toMatch(
      /^edgefuse broker listening on mqtts:\/\/127\.0\.0\.1:\d+ and wss:\/\/127\.0\.0\.1:\d+ \(anonymous guests; /,
    );
    const actor = { broker: broker.url, deployment: "cli", "max-packet": 4096 };
    const sender = await connect({ ...actor, ca: files.ca }, "infer-r1");
    teardown.add(() => sender.close());
    // Resolves once the broker acknowledged every chunk: chunked to --max-packet over TLS too.
    const report = await sender.publish(t.infer("r1"), Buffer.alloc(10_000, 7));
    expect(report.chunkCount).toBeGreaterThan(1);
    await expect(connect(actor, "no-ca")).rejects.toThrow(
      /cannot connect: .*(self-signed|unable to verify|local issuer)/,
    );
    const missing = await connect({ ...actor, ca: join(dir, "nope.pem") }, "x").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(TlsFileError);
    expect((missing as Error).message).toMatch(/nope\.pem: cannot read the CA certificate: ENOENT/);
    await expect(connect({ ...actor, ca: files.ca, cert: files.clientCert }, "x")).rejects.toThrow(
      `${files.clientCert}: a client certificate needs both --cert and --key`,
    );
    await broker.stop();
    await expect(
      serveBroker(flags({ "tls-cert": files.serverKey, "tls-key": files.serverCert }), new Promise(() => {}), () => {}),
    ).rejects.toThrow(/: not a certificate and its key: /);
  });

  it("prints an empty table when no client came", () => {
    expect(trafficTable({})).toEqual(["  (no clients)"]);
  });

  it("runs from the command line, stops on SIGTERM, and hashes passwords", async () => {
    const bin = join(REPO_ROOT, "bin", "edgefuse");
    const child = spawn(bin, ["broker", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    teardown.add(() => child.exitCode === null && child.kill("SIGKILL"));
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    await expect.poll(() => stdout, { timeout: 10_000 }).toMatch(/listening on mqtt:\/\/127\.0\.0\.1:\d+/);
    const url = stdout.match(/(mqtt:\S+)/)![1]!;
    teardown.client(await connectBroker(url, { clientId: "probe", reconnectPeriodMs: 0 }));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/stopped; traffic per client:\n {2}client .*\n {2}probe +\d+/);

    const hasher = spawn(bin, ["broker", "--hash-password"], { stdio: ["pipe", "pipe", "pipe"] });
    let hash = "";
    hasher.stdout.on("data", (d) => (hash += d));
    hasher.stdin.end("open sesame\n");
    await new Promise((resolve) => hasher.on("close", resolve));
    expect(await verifyPassword("open sesame", hash.trim())).toBe(true);
  });
});

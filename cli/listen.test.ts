/**
 * `broker`, `up` and `demo` listen where they say: 127.0.0.1 unless --host says
 * otherwise, the address printed as listened on; a port in use ends them at once with
 * one line; a broker stops on the first Ctrl-C.
 */
import { createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { connectBroker } from "../broker/client.js";
import { useTeardown } from "../test/brokers.js";
import { edgefuse, startEdgefuse, type RunningCli } from "../test/cli.js";
import { cfgPath, imagePath, readOracle } from "../test/fixtures.js";

const taken: Server[] = [];
afterEach(async () => {
  await Promise.all(taken.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A port some other process listens on. */
async function takenPort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  taken.push(server);
  return (server.address() as { port: number }).port;
}

/** An address of this machine other than loopback, if it has one. */
const lanAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === "IPv4" && !a.internal)?.address;

describe("a port in use", () => {
  it.each([["broker"], ["up"], ["demo"]])("ends `%s` within 2 s, non-zero, with one line", async (command) => {
    const port = await takenPort();
    const started = performance.now();
    const r = await edgefuse([command, "--port", String(port)], { timeoutMs: 20_000 });
    const elapsedMs = performance.now() - started;
    expect(r.stderr).toBe(
      `edgefuse ${command}: port ${port} on 127.0.0.1 is in use (EADDRINUSE); pick another with --port\n`,
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(elapsedMs).toBeLessThan(2000);
  });

  it("names --ws-port when that is the one taken", async () => {
    const port = await takenPort();
    const r = await edgefuse(["broker", "--port", "0", "--ws-port", String(port)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `edgefuse broker: port ${port} on 127.0.0.1 is in use (EADDRINUSE); pick another with --ws-port\n`,
    );
  });
});

describe("edgefuse broker", () => {
  const teardown = useTeardown();
  const start = (args: string[]): RunningCli => {
    const cli = startEdgefuse(["broker", ...args]);
    teardown.add(() => cli.child.exitCode === null && cli.child.kill("SIGKILL"));
    return cli;
  };

  it("listens on 127.0.0.1 by default, says so, and stops on the first SIGINT", async () => {
    const cli = start(["--port", "0"]);
    const [, port] = await cli.waitFor(
      /^edgefuse broker listening on mqtt:\/\/127\.0\.0\.1:(\d+) \(anonymous guests; this machine only; --host 0\.0\.0\.0 lets devices on the network join\)$/m,
      15_000,
    );
    teardown.client(await connectBroker(`mqtt://127.0.0.1:${port}`, { clientId: "probe", reconnectPeriodMs: 0 }));
    if (lanAddress)
      await expect(
        connectBroker(`mqtt://${lanAddress}:${port}`, { reconnectPeriodMs: 0, connectTimeoutMs: 2000 }),
      ).rejects.toThrow();
    cli.child.kill("SIGINT");
    expect(await cli.exited).toEqual({ code: 0, signal: null }); // by itself: nothing sends a second signal
    expect(cli.output.stdout).toMatch(/stopped; traffic per client:\n {2}client .*\n {2}probe +\d+/);
  });

  it("--host 0.0.0.0 --insecure listens on every interface and prints how devices join", async () => {
    const cli = start(["--port", "0", "--host", "0.0.0.0", "--insecure"]);
    const [, port, hint] = await cli.waitFor(
      /^edgefuse broker listening on mqtt:\/\/0\.0\.0\.0:(\d+) \(anonymous clients trusted with everything \(--insecure\); every interface: devices join with --broker (.*)\)$/m,
      15_000,
    );
    const reach = lanAddress ?? "127.0.0.1";
    if (lanAddress) expect(hint).toContain(`mqtt://${lanAddress}:${port}`);
    teardown.client(await connectBroker(`mqtt://${reach}:${port}`, { clientId: "lan", reconnectPeriodMs: 0 }));
    cli.child.kill("SIGTERM");
    expect((await cli.exited).code).toBe(0);
  });
});

describe("edgefuse up --host", () => {
  it("serves on the address given, says so, and counts one device as the source", async () => {
    const mini = readOracle("yolov2-mini-s7-dog");
    const r = await edgefuse(
      [
        "up",
        "--devices",
        "1",
        "--host",
        "0.0.0.0",
        "--insecure",
        "--port",
        "0",
        "--cfg",
        cfgPath("yolov2-mini"),
        "--weights",
        join(mini.dir, mini.weights),
        "--infer",
        imagePath("dog.jpg"),
        "--json",
      ],
      { timeoutMs: 120_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^edgefuse up: broker listening on mqtt:\/\/0\.0\.0\.0:\d+ \(every interface: devices join with --broker mqtt:\/\/\S+:\d+.*\)$/m,
    );
    expect(r.stderr).toMatch(/^edgefuse up: 1 device \(the source\), deployment 'default', plan \S+$/m);
    expect(JSON.parse(r.stdout)).toHaveProperty("detections");
  });
});

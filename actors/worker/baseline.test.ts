/**
 * `--memory` is the device's whole memory for edgefuse: a real `edgefuse worker`
 * process measures what it holds before any shard and announces it beside its memory,
 * and one given less memory than that refuses to start, saying both numbers.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connectBroker, subscribeChunked } from "../../broker/client.js";
import { decodePresence, type Presence } from "../../broker/messages.js";
import { topicsFor } from "../../broker/topics.js";
import { inbox, startEmbedded, useTeardown } from "../../test/brokers.js";
import { edgefuse } from "../../test/cli.js";
import { REPO_ROOT } from "../../test/fixtures.js";

describe("a worker's memory", () => {
  const teardown = useTeardown();

  it("is announced with the process's measured baseline, which is more than 20 MB and less than the memory", async () => {
    const broker = teardown.broker(await startEmbedded());
    const topics = topicsFor("baseline");
    const presences = inbox<Presence>();
    const watcher = teardown.client(await connectBroker(broker.url));
    await subscribeChunked(watcher, topics.worker("pi-1"), {
      onMessage: (t, p) => void (p.length && presences.push(decodePresence(t, p)!)),
      onError: (err) => {
        throw err;
      },
    });

    const child = spawn(
      join(REPO_ROOT, "bin", "edgefuse"),
      ["worker", "--broker", broker.url, "--deployment", "baseline", "--id", "pi-1", "--memory", "512"],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    teardown.add(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    });

    const presence = await presences.next(30_000, `pi-1's presence (stderr: ${stderr})`);
    expect(presence.memoryBudgetBytes).toBe(512e6);
    expect(presence.baselineBytes).toBeGreaterThan(20e6);
    expect(presence.baselineBytes).toBeLessThan(512e6);
    console.log(`edgefuse worker baseline: ${(presence.baselineBytes! / 1e6).toFixed(1)} MB`);
    // Its signal handlers are installed once it says where it is.
    while (!stderr.includes("worker pi-1: on ")) await new Promise((r) => setTimeout(r, 20));
    expect(stderr).toMatch(
      /^worker pi-1: 512\.0 MB of memory: \d+\.\d MB this process before any weights, \d+\.\d MB for weights and activations$/m,
    );
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("below the baseline, the worker refuses to start, naming itself and both numbers", async () => {
    const broker = teardown.broker(await startEmbedded());
    const r = await edgefuse(["worker", "--broker", broker.url, "--id", "pi-zero", "--memory", "16"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /worker pi-zero: --memory 16 MB is not more than what this process holds before any weights \(\d+(\.\d)? MB: node, onnxruntime and MQTT\); give it more/,
    );
  });
});

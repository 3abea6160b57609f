import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connectBus } from "../../broker/bus.js";
import { encodeJson, presenceSchema } from "../../broker/messages.js";
import { topicsFor } from "../../broker/topics.js";
import { parsePlan } from "../../planner/schema.js";
import { inbox, startEmbedded, useTeardown } from "../../test/brokers.js";
import { edgefuse } from "../../test/cli.js";
import { cfgPath, readOracle, REPO_ROOT } from "../../test/fixtures.js";

describe("edgefuse planner", () => {
  const teardown = useTeardown();

  it("waits for --devices devices, the source counted, publishes a retained plan for them, and exits cleanly on SIGTERM", async () => {
    const broker = teardown.broker(await startEmbedded());
    const topics = topicsFor("cli-test");
    const oracle = readOracle("yolov2-mini-s7-dog");
    const announce = async (id: string, role: "source" | "worker") => {
      const worker = await connectBus(broker.url, { clientId: id });
      teardown.client(worker.client);
      const presence = {
        workerId: id,
        role,
        memoryBudgetBytes: 64e6,
        gmacPerSec: 40,
        startedAt: new Date().toISOString(),
        version: "0.1.0",
      };
      await worker.publish(topics.worker(id), encodeJson(presenceSchema, presence), { retain: true });
    };
    await announce("cam", "source");

    const args = [
      "planner",
      "--cfg",
      cfgPath("yolov2-mini"),
      "--weights",
      join(oracle.dir, oracle.weights),
      "--broker",
      broker.url,
      "--deployment",
      "cli-test",
      "--devices",
      "2",
      "--scheme",
      "lop",
    ];
    const child = spawn(join(REPO_ROOT, "bin", "edgefuse"), args, { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    teardown.add(() => child.exitCode === null && child.kill("SIGKILL"));

    const plans = inbox<string>();
    const watcher = await connectBus(broker.url);
    teardown.client(watcher.client);
    await watcher.subscribe(topics.plan(), {
      onMessage: (_t, p) => plans.push(p.toString()),
      onError: (err) => plans.push(`error: ${err.message}`),
    });
    const deadline = Date.now() + 15_000;
    while (!stderr.includes("waiting for 2 devices") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toMatch(/^planner: waiting for 2 devices before the first plan \(1 present\)$/m);
    await announce("w1", "worker");
    let text = await plans.next(15_000, "plan");
    while (text === "") text = await plans.next(15_000, "plan"); // the cleared topic from before w2 came
    const plan = parsePlan(JSON.parse(text));
    expect(plan.devices.map((d) => d.workerId)).toEqual(["cam", "w1"]);
    expect(plan.inputs).toMatchObject({ strategy: "lop" });
    expect(plan.model.name).toBe("yolov2-mini");

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    // Stopped gracefully, it empties the retained plan: nothing of it stays on the broker.
    expect(await plans.next(5_000, "the cleared plan")).toBe("");
    expect(stderr).toMatch(
      /^planner: watching mqtt:\/\/127\.0\.0\.1:\d+ deployment 'cli-test' for devices \(model .*yolov2-mini\.cfg, first plan once 2 devices are present\)$/m,
    );
    expect(stderr).toMatch(new RegExp(`^planner: published plan ${plan.id} for cam, w1 \\(\\d+ shards\\)$`, "m"));
  });

  it.each([
    [["--cfg", "yolov2", "--weights", "x.weights"], "--broker: is required"],
    [["--cfg", "yolov2", "--broker", "mqtt://127.0.0.1:1"], "--weights: is required"],
    [
      ["--cfg", "yolov2", "--weights", "x.weights", "--broker", "mqtt://127.0.0.1:1", "--devices", "0"],
      "--devices: expected a device count from 1 to 256",
    ],
    [
      ["--cfg", "yolov2", "--weights", "x.weights", "--broker", "127.0.0.1:1883"],
      "--broker: expected mqtt://host:port",
    ],
  ])("refuses %j with exit code 2", async (args, message) => {
    const r = await edgefuse(["planner", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`edgefuse planner: ${message}`);
  });
});

import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connectBroker, subscribeChunked } from "../../../broker/client.js";
import { encodeJson, presenceSchema } from "../../../broker/messages.js";
import { topicsFor } from "../../../broker/topics.js";
import { shardId } from "../../../dnn/shard.js";
import { parsePlan } from "../../../planner/schema.js";
import { shardsOf } from "../../../planner/shards.js";
import { inbox, startEmbedded, useTeardown } from "../../../test/brokers.js";
import { edgefuse } from "../../../test/cli.js";
import { cfgPath, readOracle, REPO_ROOT } from "../../../test/shared.js";

const tmp = mkdtempSync(join(tmpdir(), "edgefuse-plan-"));

describe("edgefuse plan", () => {
  it("prints the scheme of every layer, the modelled traffic and what each worker holds", async () => {
    const r = await edgefuse(["plan", "--cfg", cfgPath("yolov2"), "--workers", "6", "--ftp-end", "12"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^plan [0-9a-f]{16}: yolov2 on 6 workers \(w1, w2, w3, w4, w5, w6\)\nFTP: layers 0–11 as 3×2 tiles\n/);
    expect(r.stdout).toMatch(/^12 +convolutional +FUSE1 +\d+\.\d\d$/m);
    expect(r.stdout).toMatch(/^26 +convolutional +LIP +\d+\.\d\d$/m);
    expect(r.stdout).toMatch(/^25 +route +source *$/m);
    expect(r.stdout).toMatch(/^modelled traffic C: [\d.]+ MB \([\d.]+ M elements\); LOP everywhere: [\d.]+ MB, so this plan saves [\d.]+ %$/m);
    expect(r.stdout.match(/^ {2}w\d +weights [\d.]+ M, shards [\d.]+ MB, [\d.]+ G mult$/gm)).toHaveLength(6);
  });

  it("--json --out: the same valid plan on stdout and in the file", async () => {
    const out = join(tmp, "plan.json");
    const r = await edgefuse(["plan", "--cfg", cfgPath("yolov2-tiny"), "--workers", "cam,pi-1,pi-2", "--budget-mb", "40", "--json", "--out", out]);
    expect(r.code).toBe(0);
    const plan = parsePlan(JSON.parse(r.stdout));
    expect(parsePlan(JSON.parse(readFileSync(out, "utf8")))).toEqual(plan);
    expect(plan.devices.map((d) => [d.workerId, d.memoryBudgetBytes])).toEqual([["cam", 40e6], ["pi-1", 40e6], ["pi-2", 40e6]]);
  });

  it("--weights --shards: writes every shard the plan names, each file named by its sha256", async () => {
    const oracle = readOracle("fc-mini-s3-dog");
    const dir = join(tmp, "shards");
    const out = join(tmp, "fc.json");
    const r = await edgefuse(["plan", "--cfg", cfgPath("fc-mini"), "--workers", "3", "--weights", join(oracle.dir, oracle.weights), "--shards", dir, "--out", out]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const plan = parsePlan(JSON.parse(readFileSync(out, "utf8")));
    const files = readdirSync(dir).sort();
    expect(files).toEqual([...shardsOf(plan).keys()].map((sha) => `${sha}.shard`).sort());
    for (const f of files) expect(`${shardId(readFileSync(join(dir, f)))}.shard`).toBe(f);
    expect(r.stdout).toMatch(new RegExp(`^wrote ${files.length} shards \\([\\d.]+ MB\\) to ${dir}$`, "m"));
  });

  it.each([
    [["--workers", "0"], "--workers: expected 1..256 workers, got 0"],
    [["--workers", "a,b,a"], "--workers: worker id 'a' is listed twice"],
    [["--workers", "3", "--grid", "3by2"], "--grid: expected RxC, e.g. 3x2"],
    [["--workers", "3", "--weights", "x.weights"], "--shards: --weights and --shards go together"],
  ])("refuses bad flags %j with exit code 2", async (args, message) => {
    const r = await edgefuse(["plan", "--cfg", "yolov2", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`edgefuse plan: ${message}`);
  });

  it("says why when the model cannot fit the workers (exit code 1)", async () => {
    const r = await edgefuse(["plan", "--cfg", "yolov2", "--workers", "2", "--budget-mb", "1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^edgefuse plan: the model does not fit these workers:\n {2}worker w1: its largest shard is [\d.]+ MB, its memory budget 1\.0 MB$/m);
  });
});

describe("edgefuse plan --broker", () => {
  const teardown = useTeardown();

  it("publishes a retained plan for the workers present, and exits cleanly on SIGTERM", async () => {
    const broker = teardown.broker(await startEmbedded());
    const topics = topicsFor("cli-test");
    const oracle = readOracle("yolov2-mini-s7-dog");
    const worker = teardown.client(await connectBroker(broker.url, { clientId: "w1" }));
    const presence = { workerId: "w1", memoryBudgetBytes: 64e6, gmacPerSec: 40, startedAt: new Date().toISOString(), version: "0.1.0" };
    await worker.publishAsync(topics.worker("w1"), encodeJson(presenceSchema, presence), { qos: 1, retain: true });

    const child = spawn(join(REPO_ROOT, "bin", "edgefuse"), ["plan", "--cfg", cfgPath("yolov2-mini"), "--weights", join(oracle.dir, oracle.weights), "--broker", broker.url, "--deployment", "cli-test"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    teardown.add(() => child.exitCode === null && child.kill("SIGKILL"));

    const plans = inbox<string>();
    const watcher = teardown.client(await connectBroker(broker.url));
    await subscribeChunked(watcher, topics.plan(), { onMessage: (_t, p) => plans.push(p.toString()), onError: (err) => plans.push(`error: ${err.message}`) });
    let text = await plans.next(15_000, "plan");
    while (text === "") text = await plans.next(15_000, "plan"); // a cleared plan before w1 was seen
    const plan = parsePlan(JSON.parse(text));
    expect(plan.devices).toEqual([{ workerId: "w1", memoryBudgetBytes: 64e6, gmacPerSec: 40 }]);
    expect(plan.model.name).toBe("yolov2-mini");

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/^planner: watching mqtt:\/\/127\.0\.0\.1:\d+ deployment 'cli-test' for workers/m);
    expect(stderr).toMatch(new RegExp(`^planner: published plan ${plan.id} for w1 \\(\\d+ shards\\)$`, "m"));
  });

  it("refuses --broker with offline-only flags", async () => {
    const r = await edgefuse(["plan", "--cfg", "yolov2", "--weights", "x.weights", "--broker", "mqtt://127.0.0.1:1", "--workers", "3"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("edgefuse plan: --broker: with --broker the workers and their budgets come from presence");
  });
});

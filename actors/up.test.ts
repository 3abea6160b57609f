/**
 * The embedded default as a user runs it: `edgefuse up` in one process, Debian's
 * `mosquitto_pub -f dog.jpg` on the infer topic, the result on the results topic.
 * And a worker killed in the middle of a request: the request ends in bounded time,
 * and the next one succeeds on the devices left.
 */
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBus } from "../broker/bus.js";
import { decodeJson, errorMessageSchema } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { DetectionsSchema } from "../dnn/detect/detection.js";
import { edgefuse } from "../test/cli.js";
import { freePort, inbox, MOSQUITTO_PUB_BIN } from "../test/brokers.js";
import { cfgPath, imagePath, readOracle, REPO_ROOT } from "../test/fixtures.js";
import { resultsSchema } from "./source/source.js";
import type { LocalSystem } from "./system.js";
import { readFileSync } from "node:fs";
import { startTinySystem } from "../test/systems.js";

const mini = readOracle("yolov2-mini-s7-dog");
const miniWeights = join(mini.dir, mini.weights);

describe("edgefuse up + mosquitto_pub", () => {
  it("an image published with mosquitto_pub -f brings its detections on results/<id>", async () => {
    const port = await freePort();
    const up = spawn(
      join(REPO_ROOT, "bin", "edgefuse"),
      [
        "up",
        "--devices",
        "2",
        "--port",
        String(port),
        "--cfg",
        cfgPath("yolov2-mini"),
        "--weights",
        miniWeights,
        "--thresh",
        "0.3",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let log = "";
    const ready = new Promise<void>((resolve, reject) => {
      up.stderr.on("data", (d: Buffer) => {
        log += d.toString();
        if (log.includes("ready: try")) resolve();
      });
      up.once("exit", (code) => reject(new Error(`edgefuse up exited (${code}) before it was ready:\n${log}`)));
    });
    try {
      await ready;
      const sub = spawn(
        "/usr/bin/mosquitto_sub",
        ["-h", "127.0.0.1", "-p", String(port), "-t", "edgefuse/v1/default/results/r1", "-C", "1", "-W", "60"],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      sub.stdout.on("data", (d: Buffer) => (out += d.toString()));
      const subDone = new Promise<number | null>((r) => sub.once("exit", r));
      await new Promise((r) => setTimeout(r, 300)); // let mosquitto_sub subscribe
      const pub = spawnSync(
        MOSQUITTO_PUB_BIN,
        ["-h", "127.0.0.1", "-p", String(port), "-t", "edgefuse/v1/default/infer/r1", "-f", imagePath("dog.jpg")],
        { encoding: "utf8" },
      );
      expect(pub.status, pub.stderr).toBe(0);
      expect(await subDone).toBe(0);
      const result = resultsSchema.parse(JSON.parse(out));
      expect(result.requestId).toBe("r1");
      // The same detections as one device computing the whole network, and both say the weights are synthetic.
      const single = await edgefuse([
        "run",
        "--cfg",
        cfgPath("yolov2-mini"),
        "--weights",
        miniWeights,
        "--image",
        imagePath("dog.jpg"),
        "--thresh",
        "0.3",
        "--json",
      ]);
      expect([result.synthetic, JSON.parse(single.stdout).synthetic]).toEqual([true, true]);
      const expected = DetectionsSchema.parse(JSON.parse(single.stdout).detections);
      const got = DetectionsSchema.parse(result.detections);
      expect(got.map((d) => [d.classId, d.box])).toEqual(expected.map((d) => [d.classId, d.box]));
      for (const [i, d] of got.entries()) expect(d.probability).toBeCloseTo(expected[i]!.probability, 4);
      expect(result.trace!.length).toBeGreaterThan(0);
    } finally {
      up.kill("SIGINT");
      await new Promise((r) => up.once("exit", r));
    }
    expect(log).toMatch(/bytes per client/);
  });
});

describe("a worker killed in the middle of a request", () => {
  let system: LocalSystem;
  beforeAll(async () => {
    system = await startTinySystem({
      devices: 3,
      workers: "process",
      jobTimeoutMs: 10_000,
      planning: { strategy: "lop", ftpEnd: 0, objective: "comm" },
    });
    await system.source.ready(120_000);
  });
  afterAll(async () => system?.stop());

  it("ends that request with an error naming the device that left, and the next request succeeds on the devices left", async () => {
    const topics = topicsFor(system.deployment);
    const bus = await connectBus(system.brokerUrl, { clientId: "killer" });
    try {
      const victim = system.workers[1]!;
      const plan = system.planner.current()!;
      const victimParts = new Set(
        plan.steps.flatMap((s) =>
          "parts" in s ? s.parts.filter((p) => p.workerId === victim.id).map((p) => `${s.layer}/${p.part}`) : [],
        ),
      );
      expect(victimParts.size).toBeGreaterThan(0);
      const answers = inbox<{ topic: string; payload: Buffer }>();
      await bus.subscribe(topics.filters.results(), {
        onMessage: (topic, payload) => answers.push({ topic, payload }),
        onError: () => undefined,
      });
      await bus.subscribe(topics.filters.errors(), {
        onMessage: (topic, payload) => answers.push({ topic, payload }),
        onError: () => undefined,
      });
      // Kill the worker the moment the first input for one of its tasks goes out.
      let killed = false;
      await bus.subscribe(topics.filters.partIn({ jobId: "k1" }), {
        onMessage: (topic) => {
          const t = topics.parse(topic);
          if (!killed && t?.kind === "partIn" && victimParts.has(`${t.layer}/${t.part}`)) {
            killed = true;
            void victim.kill();
          }
        },
        onError: () => undefined,
      });
      const image = readFileSync(imagePath("dog.jpg"));
      await bus.publish(topics.infer("k1"), image);
      const first = await answers.next(30_000, "an answer to k1");
      expect(killed).toBe(true);
      // all-LOP gives the victim a part of every layer, so the job needs it again after
      // the kill: it must fail, and because the device left, not at its deadline.
      expect(first.topic, first.payload.toString()).toBe(topics.errors("k1"));
      const e = decodeJson(first.topic, first.payload, errorMessageSchema);
      expect(e.message).toMatch(new RegExp(`device ${victim.id} left while job k1 was running`));
      // The planner re-plans for the two devices left; the next request runs on them.
      await bus.publish(topics.infer("k2"), image);
      const second = await answers.next(120_000, "an answer to k2");
      expect(second.topic, second.payload.toString()).toBe(topics.results("k2"));
      expect(system.planner.current()!.devices.map((d) => d.workerId)).not.toContain(victim.id);
    } finally {
      await bus.close({ force: true });
    }
  });
});

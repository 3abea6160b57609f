/**
 * Every plan, executed task by task from its shards, gives what the network gives on
 * one device: all three oracle networks, N = 1, 2, 3, 6, all-LOP and the optimum,
 * with and without FTP. (The same schedule runs over MQTT in actors' own tests.)
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diff } from "../../test/compare.js";
import { cfgPath, readF32, readOracle } from "../../test/fixtures.js";
import { createEngine, type Engine } from "../../dnn/engine.js";
import { loadNetwork } from "../../dnn/network.js";
import { onnxRuntime } from "../../dnn/onnx/runtime.js";
import { decodeShard } from "../../dnn/shard.js";
import { readWeights } from "../../dnn/weights.js";
import { makePlan } from "../../planner/build.js";
import type { PlanDevice } from "../../planner/schema.js";
import { buildShards } from "../../planner/shards.js";
import { TaskExecutor } from "./executor.js";
import { localDispatcher, prepareSource, releaseSource, runSchedule } from "./job.js";
import { buildSchedule } from "./schedule.js";

const runtime = onnxRuntime();
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

const cases = ["yolov2-mini-s7-dog", "fc-mini-s3-dog", "yolov2-tiny-s1-dog"] as const;

describe.each(cases)("%s: a plan run task by task equals the single-device run", (name) => {
  const oracle = readOracle(name);
  const network = loadNetwork(cfgPath(oracle.cfg.replace(/\.cfg$/, "")));
  const weightsPath = join(oracle.dir, oracle.weights);
  const input = readF32(join(oracle.dir, oracle.input_file));
  let reference: Float32Array | undefined;
  const single = async () => {
    if (!reference) {
      const engine: Engine = await createEngine(network, readWeights(weightsPath, network));
      cleanups.push(() => engine.release());
      reference = (await engine.forward(input)).output;
    }
    return reference;
  };

  /** `placed`: a task that reuses a kept slice gets its input as a worker reassembles it, straight into placeInput's pieces. */
  const execute = async (
    n: number,
    strategy: "auto" | "lop",
    ftpEnd: 0 | "auto",
    placed: boolean,
    given?: { devices: PlanDevice[]; objective: "latency" },
  ) => {
    const devices = given?.devices ?? Array.from({ length: n }, (_, i) => ({ workerId: `w${i}` }));
    const draft = makePlan(network, { devices, strategy, ftpEnd, objective: given?.objective ?? "comm" });
    const shards = new Map<string, Buffer>();
    const { plan } = await buildShards(
      draft,
      network,
      readWeights(weightsPath, network),
      (sha, bytes) => void shards.set(sha, bytes),
    );
    const schedule = buildSchedule(plan, network);
    const fetchShard = async (sha: string) => decodeShard(shards.get(sha)!, sha);
    // One executor per device, so kept slices and reuse behave as on separate devices.
    const executors = new Map(
      devices.map((d) => [
        d.workerId,
        new TaskExecutor(network, { runtime, fetchShard, memoryBudgetBytes: 1 << 30, keptTtlMs: 60_000 }),
      ]),
    );
    const prepared = await prepareSource(network, schedule, runtime, fetchShard);
    cleanups.push(async () => {
      await releaseSource(prepared);
      for (const e of executors.values()) await e.release();
    });
    const dispatcher = localDispatcher((task, jobId, payload) => {
      const executor = executors.get(task.workerId)!;
      const into = placed ? executor.placeInput(task) : undefined;
      if (!into) return executor.run(task, jobId, payload);
      let at = 0;
      const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
      for (const piece of into.pieces) {
        piece.set(bytes.subarray(at, at + piece.byteLength));
        at += piece.byteLength;
      }
      expect(at).toBe(bytes.byteLength);
      return executor.run(task, jobId, into.input, true);
    });
    const { output, trace } = await runSchedule(prepared, dispatcher, "job1", input);
    const d = diff(output, await single());
    expect(d.relative, `max |a−b| ${d.maxAbs}`).toBeLessThanOrEqual(1e-4);
    // The trace accounts for every layer exactly once.
    const covered = trace.flatMap((t) =>
      Array.from({ length: t.layers[1] - t.layers[0] + 1 }, (_, i) => t.layers[0] + i),
    );
    expect(covered).toEqual(network.layers.map((l) => l.index));
    return { schedule, plan };
  };

  it.each([
    [1, "auto", 0],
    [2, "auto", 0],
    [3, "lop", 0],
    [3, "auto", "auto"],
    [6, "auto", 0],
    [6, "lop", "auto"],
    [6, "auto", "auto"],
  ] as const)("N = %i, %s, FTP layers %s", async (n, strategy, ftpEnd) => {
    await execute(n, strategy, ftpEnd, false);
  });

  it.each([
    [3, "auto", 0],
    [6, "auto", 0],
  ] as const)("N = %i, %s, FTP layers %s, reused inputs reassembled in place", async (n, strategy, ftpEnd) => {
    const { schedule } = await execute(n, strategy, ftpEnd, true);
    expect(
      schedule.tasks.some((t) => t.held),
      "a task that reuses a kept slice",
    ).toBe(true);
  });

  it("the fastest plan for uneven devices (budgets, speeds and links of their own) equals the single-device output", async () => {
    const weights = network.totalParams * 4;
    // No device can hold the model; one is slow, one has a slow link: parts of uneven size, and a device may be left out.
    const devices: PlanDevice[] = [10, 5, 10, 10].map((gmac, i) => ({
      workerId: `w${i}`,
      ...(i === 0 ? { role: "source" as const } : {}),
      memoryBudgetBytes: Math.round(weights * 0.6),
      gmacPerSec: gmac,
      uplinkBitsPerSec: i === 3 ? 1e6 : 1e7,
      downlinkBitsPerSec: i === 3 ? 1e6 : 1e7,
    }));
    const { plan } = await execute(4, "auto", "auto", true, { devices, objective: "latency" });
    expect(plan.prediction?.objective).toBe("latency");
    const sizes = plan.steps.flatMap((s) =>
      s.scheme === "source" || s.scheme === "carry" ? [] : [s.parts.map((p) => p.cut.c1 - p.cut.c0)],
    );
    expect(
      sizes.some((parts) => parts.length < 4 || Math.max(...parts) - Math.min(...parts) > 1),
      `parts per layer: ${JSON.stringify(sizes)}`,
    ).toBe(true);
  });
});

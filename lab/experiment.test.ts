/**
 * A real lab run, CI-sized: yolov2-tiny with seeded synthetic weights on 3 devices
 * (the source in the hub, two workers behind 100 mbit links), one plan, one timed
 * request. Needs root (namespaces, tc, cgroups) and the built dist/ (the devices run
 * the edgefuse CLI).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { modelCfg, PACKAGE_ROOT, sampleImage } from "../core/paths.js";
import { loadNetwork } from "../dnn/network.js";
import { writeSyntheticWeights } from "../dnn/synthetic.js";
import { runLabExperiment, type RunRecord } from "./experiment.js";
import { measureGmacPerSec } from "../actors/runtime/speed.js";
import { DEVICE_RUNTIME_OPTIONS, onnxRuntime } from "../dnn/onnx/runtime.js";
import { cleanupStale } from "./stale.js";
import { leftovers, NOTHING, requireRoot } from "./test-support.js";

const PREFIX = "eflabexp";
const MBIT = 100;

interface Detection {
  classId: number;
  probability: number;
  box: { left: number; top: number; right: number; bottom: number };
}

describe("runLabExperiment", () => {
  let dir: string;
  let record: RunRecord;
  let progress: string[];
  const cfg = modelCfg("yolov2-tiny");
  const image = sampleImage("dog.jpg");

  beforeAll(async () => {
    requireRoot();
    cleanupStale(PREFIX);
    dir = mkdtempSync(join(tmpdir(), "edgefuse-lab-"));
    const weights = join(dir, "tiny.weights");
    writeSyntheticWeights(loadNetwork(cfg), 7, weights);
    progress = [];
    const records = await runLabExperiment({
      devices: 3,
      topology: "hub",
      bandwidthMbit: MBIT,
      cpuShare: 0.5,
      cfg,
      weights,
      image,
      namePrefix: PREFIX,
      // The paper's optimum (least C): it spreads over every device, so every link carries job bytes.
      // Tensors as float32: the detections are compared with one device's to 1e-4.
      schemes: [{ label: "optimum", planning: { strategy: "auto", ftpEnd: "auto", objective: "comm", wire: "f32" } }],
      repeats: 1,
      log: (line) => progress.push(line),
    });
    expect(records).toHaveLength(1);
    record = records[0]!;
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("records every field of a run", () => {
    expect(record).toMatchObject({ scheme: "optimum", devices: 3, bandwidthMbit: MBIT, cpuShare: 0.5, repeat: 1 });
    expect(Object.keys(record.linkBytes).sort()).toEqual(["w1", "w2"]);
    expect(record.bytesBusiestLink).toBe(Math.max(...Object.values(record.linkBytes)));
    for (const key of [
      "latencyMs",
      "bytesBusiestLink",
      "modelledBytes",
      "measuredBytes",
      "lowerBoundMs",
      "criticalComputeMs",
      "planCostBytes",
    ] as const) {
      expect(record[key], key).toBeGreaterThan(0);
    }
    expect(record.weightsPerDeviceBytes).toHaveLength(3);
    // the stages cover the network; their slowest devices' compute and the source's own work before and after are the bound's compute
    expect(record.stages[0]!.layers[0]).toBe(0);
    expect(record.preprocessMs).toBeGreaterThan(0);
    expect(record.postprocessMs).toBeGreaterThan(0);
    expect(record.criticalComputeMs).toBeGreaterThan(record.preprocessMs! + record.postprocessMs!);
    for (const stage of record.stages) expect(stage.wallMs).toBeGreaterThanOrEqual(0);
    expect(record.presenceWeightBytes.filter((b) => b !== null)).toHaveLength(2);
    expect(progress.join("\n")).toContain("planning and sending shards");
  });

  it("sets each stage's predicted time, every device's speed and every process's CPU beside what was measured", () => {
    const distributed = record.stages.filter((st) => st.scheme !== "SOURCE");
    expect(distributed.length).toBeGreaterThan(0);
    for (const st of distributed) {
      expect(st.predictedMs).toBeGreaterThan(0);
      expect(st.predictedBound).toMatch(/\S/);
    }
    expect(record.deviceGmacPerSec).toHaveLength(3);
    for (const g of record.deviceGmacPerSec!) expect(g).toBeGreaterThan(0);
    // The broker's process and the three devices each computed or moved something during the request; none spent more CPU than the request's wall time allows its share.
    expect(Object.keys(record.cpuMs!).sort()).toEqual(["broker", "source", "w1", "w2"]);
    for (const [name, ms] of Object.entries(record.cpuMs!)) {
      expect(ms, name).toBeGreaterThan(0);
      if (name !== "broker") expect(ms, name).toBeLessThanOrEqual(0.5 * record.latencyMs * 1.1 + 20);
    }
  });

  it("lets the workers measure their speed under their half-core quota (start-up lifts it only later)", async () => {
    const unlimited = await measureGmacPerSec(onnxRuntime(DEVICE_RUNTIME_OPTIONS));
    const workers = record.deviceGmacPerSec!.slice(1);
    for (const g of workers) expect(g!).toBeLessThan(0.75 * unlimited);
  });

  it("measures each link at its set rate, within 10 %", () => {
    expect(record.measuredLinkMbit.map((l) => l.link)).toEqual(["w1", "w2"]);
    for (const l of record.measuredLinkMbit) {
      for (const mbit of [l.up, l.down]) expect(Math.abs(mbit / MBIT - 1)).toBeLessThan(0.1);
    }
  });

  it("detects what one device detects on the same weights", () => {
    const single = JSON.parse(
      execFileSync(
        join(PACKAGE_ROOT, "bin", "edgefuse"),
        ["run", "--cfg", cfg, "--weights", join(dir, "tiny.weights"), "--image", image, "--json"],
        { encoding: "utf8" },
      ),
    ) as { detections: Detection[] };
    const distributed = record.detections as Detection[];
    expect(single.detections.length).toBeGreaterThan(0);
    expect(distributed.map((d) => [d.classId, d.box])).toEqual(single.detections.map((d) => [d.classId, d.box]));
    // Partial sums add up in another order across devices: float32 rounding only.
    for (const [i, d] of distributed.entries()) {
      expect(d.probability).toBeCloseTo(single.detections[i]!.probability, 4);
    }
  });

  it("moves the modelled bytes, within 0.1 %", () => {
    expect(Math.abs(record.measuredBytes / record.modelledBytes - 1)).toBeLessThan(0.001);
  });

  it("never beats physics: the busiest link carried no more than its rate allows", () => {
    const mbitPerSecond = (record.bytesBusiestLink * 8) / 1e6 / (record.latencyMs / 1000);
    expect(mbitPerSecond).toBeLessThanOrEqual(MBIT);
    // and took at least its critical path's compute (the bound adds the busiest link's time, which can overlap other devices' compute)
    expect(record.latencyMs).toBeGreaterThanOrEqual(record.criticalComputeMs);
  });

  it("leaves nothing of the lab behind", () => {
    expect(leftovers(PREFIX)).toEqual(NOTHING);
  });
});

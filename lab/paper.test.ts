/**
 * The paper's network in the lab, CI-sized: yolov2-tiny with seeded synthetic weights
 * on 3 devices, every one of them (the source too) behind its own 100 mbit link, the
 * broker and planner on the source device. The source's link must really be shaped,
 * and the plan's predicted latency must match the measured one. The plan minimises
 * the paper's C, so it spreads over every device and its time goes over the links
 * (the least predicted time keeps yolov2-tiny on the source alone at 100 mbit, and
 * would leave the link model untried). Needs root (namespaces, tc, cgroups) and the
 * built dist/ (the devices run the edgefuse CLI).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { modelCfg, sampleImage } from "../core/paths.js";
import { loadNetwork } from "../dnn/network.js";
import { writeSyntheticWeights } from "../dnn/synthetic.js";
import { runLabExperiment, type RunRecord } from "./experiment.js";
import { cleanupStale } from "./stale.js";
import { leftovers, NOTHING, requireRoot } from "./test-support.js";

const PREFIX = "eflabpaper";
const MBIT = 100;
/** Timed requests: their median is the measured latency, so one slow request (a CFS period's bad luck) does not decide. */
const REPEATS = 3;

describe("the paper topology", () => {
  let dir: string;
  let record: RunRecord;
  let latenciesMs: number[];

  beforeAll(async () => {
    requireRoot();
    cleanupStale(PREFIX);
    dir = mkdtempSync(join(tmpdir(), "edgefuse-paper-"));
    const cfg = modelCfg("yolov2-tiny");
    const weights = join(dir, "tiny.weights");
    writeSyntheticWeights(loadNetwork(cfg), 7, weights);
    const records = await runLabExperiment({
      devices: 3,
      topology: "paper",
      bandwidthMbit: MBIT,
      cpuShare: 0.5,
      memoryMb: [2048, 1024, 1024],
      cfg,
      weights,
      image: sampleImage("dog.jpg"),
      namePrefix: PREFIX,
      schemes: [{ label: "comm", planning: { strategy: "auto", ftpEnd: "auto", objective: "comm" } }],
      repeats: REPEATS,
    });
    expect(records).toHaveLength(REPEATS);
    record = records[0]!;
    latenciesMs = records.map((r) => r.latencyMs).sort((a, b) => a - b);
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("says what lab it ran in", () => {
    expect(record).toMatchObject({
      topology: "paper",
      gatewayMbit: null,
      deviceBandwidthMbit: [MBIT, MBIT, MBIT],
      deviceCpuShare: [0.5, 0.5, 0.5],
      deviceMemoryMb: [2048, 1024, 1024],
    });
    expect(record.measuredLinkMbit.map((l) => l.link)).toEqual(["source", "w1", "w2"]);
  });

  it("shapes the source's link both ways, within 10 % of the set rate", () => {
    const source = record.measuredLinkMbit.find((l) => l.link === "source")!;
    for (const mbit of [source.up, source.down]) expect(Math.abs(mbit / MBIT - 1)).toBeLessThan(0.1);
  });

  it("carries every worker's bytes over the source's link: it is the busiest", () => {
    expect(record.linkBytes.w1).toBeGreaterThan(0);
    expect(record.linkBytes.w2).toBeGreaterThan(0);
    expect(record.linkBytes.source).toBe(record.linkBytes.w1! + record.linkBytes.w2!);
    expect(record.bytesBusiestLink).toBe(record.linkBytes.source);
  });

  it("predicts the measured latency within 30 %", () => {
    expect(record.predictedMs, "the plan carries a prediction").not.toBeNull();
    const median = latenciesMs[Math.floor(REPEATS / 2)]!;
    expect(
      Math.abs(median / record.predictedMs! - 1),
      `measured ${latenciesMs.join(", ")} ms, predicted ${record.predictedMs} ms`,
    ).toBeLessThan(0.3);
  });

  it("leaves nothing of the lab behind", () => {
    expect(leftovers(PREFIX)).toEqual(NOTHING);
  });
});

/**
 * YOLOv2 608 end to end over MQTT on this machine (loopback): the embedded default
 * (`edgefuse up`: broker, planner and source in one process, workers as processes)
 * for N = 1, 3, 6 devices and three plans. Per variant: median latency of repeated
 * requests, bytes on the device links (broker counters) beside the modelled C, and
 * per worker its resident weights and peak RSS.
 */
import { readFileSync } from "node:fs";
import { CACHE_DIR, modelCfg, sampleImage } from "../core/paths.js";
import { loadNetwork, type Network } from "../dnn/network.js";
import { cachedSyntheticWeights } from "../dnn/synthetic.js";
import { connectBus } from "../broker/bus.js";
import { decodePresence, type Presence } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import type { PlanOptions } from "../planner/build.js";
import { compareTraffic } from "../planner/traffic.js";
import { startLocalSystem } from "../actors/system.js";
import { machine, median, writeSection } from "./report.js";
import { workerClientId } from "../broker/traffic.js";
import { PAPER_YOLOV2 } from "../planner/strategies.js";
import { FLOAT32_BYTES } from "../core/dtypes.js";

type Planning = Partial<Omit<PlanOptions, "devices">>;
const VARIANTS: [string, Planning][] = [
  ["all-LOP", { strategy: "lop", ftpEnd: 0 }],
  ["ILP optimum", { strategy: "auto", ftpEnd: 0 }],
  // The paper's FTP stage; the planner puts its tiles on as many devices as keep the weights balanced.
  ["FTP 0–11 + optimum", { strategy: "auto", ftpEnd: PAPER_YOLOV2.ftpEnd }],
  ["least-C FTP + optimum", { strategy: "auto", ftpEnd: "auto-comm" }],
];

/** Peak and current resident memory of a process, from /proc (Linux). */
function memoryOf(pid: number | undefined): { peakMB: number; rssMB: number } | undefined {
  if (!pid) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) =>
      Number(/(\d+) kB/.exec(status.split("\n").find((l) => l.startsWith(key)) ?? "")?.[1] ?? NaN);
    return { peakMB: kb("VmHWM:") / 1024, rssMB: kb("VmRSS:") / 1024 };
  } catch {
    return undefined;
  }
}

interface Row {
  devices: number;
  variant: string;
  medianMs: number;
  modelledMB: number;
  measuredMB: number;
  linkMB: number;
  weightsPerWorkerMB: number[];
  peakRssPerWorkerMB: number[];
}

export async function benchDistributed(options: { requests: number; devices: readonly number[] }): Promise<void> {
  const network = loadNetwork(modelCfg("yolov2"));
  const { path: weightsPath } = cachedSyntheticWeights(network, 1, CACHE_DIR);
  const image = readFileSync(sampleImage("dog.jpg"));
  const rows: Row[] = [];
  for (const devices of options.devices) {
    console.log(`distributed: YOLOv2 608 on ${devices} device(s)`);
    for (const [variant, planning] of VARIANTS) {
      if (devices === 1 && variant !== "all-LOP") continue; // one device: one plan
      // A fresh system per plan: a worker's peak RSS is then that plan's, from shard loading on.
      rows.push(
        await benchVariant({ network, weightsPath, image, devices, variant, planning, requests: options.requests }),
      );
    }
  }
  report(rows, (network.totalParams * FLOAT32_BYTES) / 1e6);
}

async function benchVariant(o: {
  network: Network;
  weightsPath: string;
  image: Buffer;
  devices: number;
  variant: string;
  planning: Planning;
  requests: number;
}): Promise<Row> {
  const { devices, variant } = o;
  const system = await startLocalSystem({
    network: o.network,
    weightsPath: o.weightsPath,
    devices,
    port: 0,
    workers: "process",
    planning: o.planning,
    log: () => undefined,
    jobTimeoutMs: 120_000,
  });
  const topics = topicsFor(system.deployment);
  const bus = await connectBus(system.brokerUrl, { clientId: "bench" });
  const presences = new Map<string, Presence>();
  try {
    await bus.subscribe(topics.filters.worker(), {
      onMessage: (t, p) => {
        const parsed = topics.parse(t);
        const pr = decodePresence(t, p);
        if (parsed?.kind === "worker") pr ? presences.set(parsed.workerId, pr) : presences.delete(parsed.workerId);
      },
      onError: () => undefined,
    });
    const answers: ((topic: string) => void)[] = [];
    await bus.subscribe(topics.filters.results(), { onMessage: (t) => answers.shift()?.(t), onError: () => undefined });
    await bus.subscribe(topics.filters.errors(), {
      onMessage: (t, p) => {
        console.error(p.toString());
        answers.shift()?.(t);
      },
      onError: () => undefined,
    });
    await system.source.ready(300_000);
    const plan = system.planner.current()!;
    const ms: number[] = [];
    let traffic = { modelledBytes: 0, measuredBytes: 0 };
    let link = 0;
    for (let i = 0; i <= o.requests; i++) {
      const before = system.broker!.bytes();
      const started = performance.now();
      const done = new Promise<string>((r) => answers.push(r));
      await bus.publish(topics.infer(`b${devices}-${i}-${plan.id}`), o.image);
      const topic = await done;
      if (!topic.includes("/results/")) throw new Error(`request failed: ${topic}`);
      const elapsed = performance.now() - started;
      if (i === 0) continue; // warm-up
      ms.push(elapsed);
      const after = system.broker!.bytes();
      const ids = system.workers.map((w) => workerClientId(w.id));
      traffic = compareTraffic(plan, before, after, ids);
      link = ids.reduce(
        (a, id) =>
          a +
          (after[id]?.bytesIn ?? 0) +
          (after[id]?.bytesOut ?? 0) -
          (before[id]?.bytesIn ?? 0) -
          (before[id]?.bytesOut ?? 0),
        0,
      );
      process.stdout.write(`\r  ${variant}: request ${i}/${o.requests}: ${elapsed.toFixed(0)} ms   `);
    }
    process.stdout.write("\n");
    return {
      devices,
      variant,
      medianMs: median(ms),
      modelledMB: traffic.modelledBytes / 1e6,
      measuredMB: traffic.measuredBytes / 1e6,
      linkMB: link / 1e6,
      weightsPerWorkerMB: system.workers.map((w) => (presences.get(w.id)?.weightBytes ?? 0) / 1e6),
      peakRssPerWorkerMB: system.workers.map((w) => memoryOf(w.pid)?.peakMB ?? NaN),
    };
  } finally {
    await bus.close();
    await system.stop();
  }
}

function report(rows: Row[], totalWeightsMB: number): void {
  const one = rows.find((r) => r.devices === 1)?.medianMs;
  const fmt = (xs: number[]) => (xs.length ? `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}` : "–");
  const lines = rows.map((r) => {
    const share = totalWeightsMB / r.devices;
    const weightsOk = r.weightsPerWorkerMB.every((w) => w <= share * 1.05);
    const rssOk = r.peakRssPerWorkerMB.every((p, i) => p <= 2 * r.weightsPerWorkerMB[i]! + 120);
    const dev = r.modelledMB ? `${((r.measuredMB / r.modelledMB - 1) * 100).toFixed(2)} %` : "–";
    const speed = one && r.devices > 1 ? ` (${(r.medianMs / one).toFixed(2)} × N=1)` : "";
    return `| ${r.devices} | ${r.variant} | ${r.medianMs.toFixed(0)} ms${speed} | ${r.modelledMB.toFixed(1)} | ${r.measuredMB.toFixed(1)} (${dev}) | ${r.linkMB.toFixed(1)} | ${fmt(r.weightsPerWorkerMB)} / share ${share.toFixed(1)} ${weightsOk ? "✓" : "✗"} | ${fmt(r.peakRssPerWorkerMB)} ${rssOk ? "✓" : "✗"} |`;
  });
  const table = [
    "| N | plan | median latency | modelled C, MB (partitioned layers) | measured on worker links, MB (vs model) | all worker-link bytes, MB | resident weights per worker, MB | peak RSS per worker, MB |",
    "|---|---|---|---|---|---|---|---|",
    ...lines,
  ].join("\n");
  writeSection(
    "distributed",
    `## Distributed: YOLOv2 608 over MQTT on loopback\n\n${new Date().toISOString().slice(0, 10)} · ${machine()}\n\n` +
      "`edgefuse up` layout: embedded broker, planner and source (one of the N devices) in one process, N−1 worker processes, one onnxruntime thread each, synthetic weights, `dog.jpg`; a fresh system per plan (so a worker's peak RSS is that plan's, shard loading included); median of the timed requests after one warm-up. " +
      "Measured bytes are the broker's per-client payload counters on the workers' connections for the partitioned layers' job topics (frame and chunk headers included); all worker-link bytes are socket bytes for the whole request (FTP stage, MQTT overhead). " +
      "Targets: resident weights ≤ total/N + 5 %; peak RSS ≤ 2 × weight share + 120 MB; N = 6 no slower than 2 × N = 1 (2 cores here).\n\n" +
      table +
      "\n",
  );
  console.log(table);
}

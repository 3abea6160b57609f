/**
 * A soak: 1,000 requests one after another on `edgefuse up --devices 3` (yolov2-mini,
 * seeded synthetic weights, every device in the plan), with every process's resident
 * memory (the up process: broker, planner and source; and each worker process) read from
 * /proc at 0, 250, 500, 750 and 1,000 requests. What grows over the last 750 requests,
 * once start-up and the first requests' warm-up are behind, is what would leak.
 */
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { CACHE_DIR, modelCfg, sampleImage } from "../core/paths.js";
import { connectBus } from "../broker/bus.js";
import { decodeJson, errorMessageSchema } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { loadNetwork } from "../dnn/network.js";
import { cachedSyntheticWeights } from "../dnn/synthetic.js";
import { CHAOS_PLANNING } from "./chaos/deployment.js";
import { freePort } from "../core/local-ports.js";
import { percentile } from "../cli/camera-stream.js";
import { machine, writeSection } from "./report.js";
import { rssMB, startUp } from "./up-process.js";

const DEVICES = 3;
const REQUEST_TIMEOUT_MS = 60_000;
/** The growth over the last three quarters of the requests that would be a leak. */
const GROWTH_LIMIT = 0.05;

interface Checkpoint {
  readonly requests: number;
  /** MB per process name: `up`, `worker-1`, … */
  readonly rssMB: Record<string, number>;
  /** Latencies of the requests since the previous checkpoint. */
  readonly windowMs: number[];
}

export async function benchSoak(o: { requests: number; checkpoints: number }): Promise<void> {
  const cfg = modelCfg("yolov2-mini");
  const { path: weights } = cachedSyntheticWeights(loadNetwork(cfg), 1, CACHE_DIR);
  const image = readFileSync(sampleImage("dog.jpg"));
  const port = await freePort();
  const lines: string[] = [];
  const { up, pids } = await startUp({ port, devices: DEVICES, cfg, weights, args: CHAOS_PLANNING, lines });
  const topics = topicsFor("default");
  const bus = await connectBus(`mqtt://127.0.0.1:${port}`, { clientId: "bench-soak" });
  const waiting = new Map<string, (failure: string | null) => void>();
  try {
    await bus.subscribe([topics.filters.results(), topics.filters.errors()], {
      onMessage: (topic, payload) => {
        const at = topics.parse(topic);
        if (at?.kind !== "results" && at?.kind !== "errors") return;
        const failure =
          at.kind === "errors"
            ? (({ code, message }) => `${code}: ${message}`)(decodeJson(topic, payload, errorMessageSchema))
            : null;
        waiting.get(at.requestId)?.(failure);
      },
      onError: () => undefined,
    });
    const sample = () => Object.fromEntries([...pids].map(([name, pid]) => [name, rssMB(pid)]));
    const every = o.requests / o.checkpoints;
    const checkpoints: Checkpoint[] = [{ requests: 0, rssMB: sample(), windowMs: [] }];
    const loadAtStart = loadavg()[0]!;
    const failures: string[] = [];
    let window: number[] = [];
    for (let i = 1; i <= o.requests; i++) {
      const id = `soak-${i}`;
      const started = performance.now();
      const failure = await new Promise<string | null>((resolve) => {
        const timer = setTimeout(() => resolve(`no answer within ${REQUEST_TIMEOUT_MS} ms`), REQUEST_TIMEOUT_MS);
        waiting.set(id, (f) => {
          clearTimeout(timer);
          resolve(f);
        });
        bus.publish(topics.infer(id), image).catch((err: unknown) => resolve(`publish: ${String(err)}`));
      });
      waiting.delete(id);
      if (failure) failures.push(`${id}: ${failure}`);
      else window.push(performance.now() - started);
      if (i % every === 0) {
        checkpoints.push({ requests: i, rssMB: sample(), windowMs: window });
        window = [];
        console.log(
          `soak: ${i}/${o.requests} requests, RSS ${Object.entries(checkpoints.at(-1)!.rssMB)
            .map(([n, mb]) => `${n} ${mb.toFixed(1)} MB`)
            .join(", ")}`,
        );
      }
    }
    report(checkpoints, failures, o.requests, [loadAtStart, loadavg()[0]!]);
  } finally {
    await bus.close();
    await up.stop("SIGINT", 20_000);
  }
}

/** `load`: the 1-minute load average at the first request and after the last, beside the latencies it shapes. */
function report(checkpoints: Checkpoint[], failures: string[], requests: number, load: [number, number]): void {
  const names = Object.keys(checkpoints[0]!.rssMB);
  const base = checkpoints[1]!; // after the first quarter: start-up and warm-up behind
  const last = checkpoints.at(-1)!;
  const growth = names.map((n) => (last.rssMB[n]! - base.rssMB[n]!) / base.rssMB[n]!);
  const pct = (g: number) => `${g >= 0 ? "+" : ""}${(100 * g).toFixed(1)} %`;
  const lat = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted.length ? `${percentile(sorted, 50)!.toFixed(0)} / ${percentile(sorted, 99)!.toFixed(0)} ms` : "–";
  };
  const rows = checkpoints.map(
    (c) => `| ${c.requests} | ${names.map((n) => c.rssMB[n]!.toFixed(1)).join(" | ")} | ${lat(c.windowMs)} |`,
  );
  const first = checkpoints[1]!;
  const table = [
    `| requests | ${names.map((n) => `RSS ${n}, MB`).join(" | ")} | p50 / p99 latency since the previous row |`,
    `|---|${names.map(() => "---|").join("")}---|`,
    ...rows,
    `| growth ${base.requests}→${last.requests} | ${growth.map((g) => `${pct(g)} ${g < GROWTH_LIMIT ? "✓" : "✗"}`).join(" | ")} | start ${lat(first.windowMs)}, end ${lat(last.windowMs)} |`,
  ].join("\n");
  const shared =
    Math.max(...load) > cpus().length
      ? " (above the core count: other work shared the cores, and the latencies carry it)"
      : "";
  const failed = failures.length
    ? `${failures.length} of ${requests} requests failed ✗ (first: ${failures.slice(0, 3).join("; ")})`
    : `0 of ${requests} requests failed ✓`;
  writeSection(
    "soak",
    `## Soak: ${requests} requests on \`up --devices ${DEVICES}\`, yolov2-mini\n\n${new Date().toISOString().slice(0, 10)} · ${machine()}\n\n` +
      "`edgefuse up --devices 3` (the embedded broker, the planner and the source in one process, two worker processes) with yolov2-mini and seeded synthetic weights, every device in the plan (`--scheme lop --ftp-layers 0 --objective comm`); `dog.jpg` sent one request after another by one client; each process's VmRSS from /proc before the first request and after every quarter. " +
      `Targets: no request fails; no process grows by ${100 * GROWTH_LIMIT} % or more from request ${base.requests} to ${last.requests} (start-up and the first requests' warm-up behind).\n\n` +
      `${table}\n\n${failed}; 1-minute load average ${load[0].toFixed(1)} at the first request, ${load[1].toFixed(1)} after the last${shared}\n`,
  );
  console.log(`${table}\n${failed}`);
}

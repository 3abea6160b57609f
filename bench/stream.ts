/**
 * Memory under a camera stream: `edgefuse up --devices 3` (yolov2-mini, seeded synthetic
 * weights, every device in the plan) takes 300 frames at the highest rate it sustains,
 * with several requests in flight, and every process's peak resident memory (VmHWM: the
 * up process with broker, planner and source, and each worker process) is read at
 * frames 0, 100, 200 and 300. What grows over the last 200 frames is what would leak.
 *
 * The rate is found quickly: the single-request latency L and the source's in-flight
 * limit K (from its `load` topic) give K/L frames/s, an upper bound; a short probe there
 * says what the devices achieve when saturated; then short runs from 90 % of the lower
 * of the two, 20 % lower each time, until one keeps up: nothing refused or dropped, and
 * no more than K waiting in the source's queue when its last frame is sent.
 */
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { z } from "zod";
import type { StreamReport } from "../cli/camera-stream.js";
import { CACHE_DIR, modelCfg, sampleImage } from "../core/paths.js";
import { loadNetwork } from "../dnn/network.js";
import { cachedSyntheticWeights } from "../dnn/synthetic.js";
import { singleRequestMs } from "../lab/experiments/throughput.js";
import { CHAOS_PLANNING } from "./chaos/deployment.js";
import { machine, writeSection } from "./report.js";
import { memoryMB, withUp } from "./up-process.js";
import { benchFlags, modelName } from "./flags.js";

/** The growth over the last two thirds of the frames that would be a leak. */
const GROWTH_LIMIT = 0.05;
const PROBE_S = 10;
const MAX_TRIES = 5;
const TIMEOUT_MS = 60_000;

const streamFlags = z.object({
  model: modelName.default("yolov2-mini"),
  devices: z.coerce.number().int().min(1).default(3),
  frames: z.coerce.number().int().min(3).default(300),
});

interface Sample {
  readonly frame: number;
  /** MB per process name: `up`, `worker-1`, … */
  readonly rss: Record<string, number>;
  readonly peak: Record<string, number>;
}

export async function benchStream(args: readonly string[]): Promise<void> {
  const o = benchFlags("stream", args, streamFlags);
  const cfg = modelCfg(o.model);
  const { path: weights } = cachedSyntheticWeights(loadNetwork(cfg), 1, CACHE_DIR);
  const image = readFileSync(sampleImage("dog.jpg"));
  const options = { devices: o.devices, cfg, weights, args: CHAOS_PLANNING, image, timeoutMs: TIMEOUT_MS };
  await withUp(options, async (up) => {
    const singleMs = await singleRequestMs((fps, count) => up.stream(fps, count));
    const inFlight = up.load()?.inFlightLimit ?? 1;
    const ideal = (1000 * inFlight) / singleMs;
    const frames = (fps: number) => Math.max(10, Math.round(fps * PROBE_S));
    const probe = await up.stream(ideal, frames(ideal));
    let fps = Number((0.9 * Math.min(ideal, probe.throughputFps)).toPrecision(3));
    const tried: string[] = [];
    for (let i = 1; i <= MAX_TRIES; i++) {
      let queuedAtEnd = 0;
      const count = frames(fps);
      const r = await up.stream(fps, count, {
        onSent: (sent) => {
          if (sent === count) queuedAtEnd = up.load()?.queued ?? 0;
        },
      });
      const keptUp = Object.keys(r.errors).length === 0 && r.unanswered === 0 && queuedAtEnd <= inFlight;
      tried.push(`${fps}/s ${keptUp ? "kept up" : `did not (${queuedAtEnd} waiting, ${JSON.stringify(r.errors)})`}`);
      if (keptUp || i === MAX_TRIES) break;
      fps = Number((0.8 * fps).toPrecision(3));
    }
    console.log(
      `stream: L ${singleMs.toFixed(0)} ms, in flight ${inFlight}: probe at ${ideal.toFixed(2)}/s achieved ${probe.throughputFps.toFixed(2)}/s; ${tried.join("; ")}; streaming ${o.frames} frames at ${fps}/s`,
    );
    const sample = (frame: number): Sample => {
      const m = [...up.pids].map(([name, pid]) => [name, memoryMB(pid)] as const);
      return {
        frame,
        rss: Object.fromEntries(m.map(([n, x]) => [n, x.rss])),
        peak: Object.fromEntries(m.map(([n, x]) => [n, x.peak])),
      };
    };
    const third = Math.round(o.frames / 3);
    const samples: Sample[] = [sample(0)];
    const loadAtStart = loadavg()[0]!;
    const report = await up.stream(fps, o.frames, {
      onSent: (sent) => {
        if (sent === third || sent === 2 * third) samples.push(sample(sent));
      },
      progress: (line) => console.log(`stream: ${line}`),
    });
    samples.push(sample(o.frames));
    write(o, { singleMs, inFlight, probe, fps, tried }, samples, report, [loadAtStart, loadavg()[0]!]);
  });
}

function write(
  o: z.infer<typeof streamFlags>,
  rate: { singleMs: number; inFlight: number; probe: StreamReport; fps: number; tried: readonly string[] },
  samples: readonly Sample[],
  r: StreamReport,
  load: readonly [number, number],
): void {
  const names = Object.keys(samples[0]!.peak);
  const base = samples[1]!;
  const last = samples.at(-1)!;
  const growth = (m: "rss" | "peak", n: string) => (last[m][n]! - base[m][n]!) / base[m][n]!;
  const pct = (g: number) => `${g >= 0 ? "+" : ""}${(100 * g).toFixed(1)} %`;
  const mb = (x: number) => x.toFixed(1);
  const table = [
    `| frame | ${names.map((n) => `${n}: peak / now, MB`).join(" | ")} |`,
    `|---|${names.map(() => "---|").join("")}`,
    ...samples.map((s) => `| ${s.frame} | ${names.map((n) => `${mb(s.peak[n]!)} / ${mb(s.rss[n]!)}`).join(" | ")} |`),
    `| growth ${base.frame}→${last.frame} | ${names
      .map(
        (n) => `${pct(growth("peak", n))} ${growth("peak", n) < GROWTH_LIMIT ? "✓" : "✗"} / ${pct(growth("rss", n))}`,
      )
      .join(" | ")} |`,
  ].join("\n");
  const errors = Object.entries(r.errors).map(([code, n]) => `${n} ${code}`);
  const s = (ms: number | null) => (ms === null ? "–" : `${(ms / 1000).toFixed(2)} s`);
  const outcome =
    `${r.results} of ${r.sent} frames answered with a result (${errors.length ? errors.join(", ") : "no errors"}` +
    `${r.unanswered ? `, ${r.unanswered} unanswered ✗` : ""}${r.duplicates ? `, ${r.duplicates} answered twice ✗` : ""}); ` +
    `throughput ${r.throughputFps.toFixed(2)} frames/s at ${r.offeredFps} offered, latency p50 ${s(r.latencyMs.p50)}, p99 ${s(r.latencyMs.p99)}; ` +
    `1-minute load average ${load[0].toFixed(1)} at the first frame, ${load[1].toFixed(1)} after the last${Math.max(...load) > cpus().length ? " (above the core count: other work shared the cores)" : ""}`;
  const heading = `## Memory under a stream: ${o.frames} frames on \`up --devices ${o.devices}\`, ${o.model}`;
  writeSection(
    "stream",
    `${heading}\n\n${new Date().toISOString().slice(0, 10)} · ${machine()}\n\n` +
      `\`edgefuse up --devices ${o.devices}\` (the embedded broker, the planner and the source in one process, ${o.devices - 1} worker processes) with ${o.model} and seeded synthetic weights, every device in the plan (\`--scheme lop --ftp-layers 0 --objective comm\`), the source's default admission (in flight: auto, queue 16, reject); \`dog.jpg\` published by one camera (\`cli/camera-stream.ts\`, as \`edgefuse camera\`). ` +
      `The rate: single-request latency L = ${s(rate.singleMs)} and ${rate.inFlight} in flight give ${((1000 * rate.inFlight) / rate.singleMs).toFixed(2)} frames/s; a ${PROBE_S} s probe there achieved ${rate.probe.throughputFps.toFixed(2)}; ${PROBE_S} s runs from 90 % of the lower (${rate.tried.join("; ")}) gave the stream's rate, ${rate.fps} frames/s. ` +
      `Each process's peak resident memory (VmHWM) and current (VmRSS) from /proc (the peak since the process started, the rate's probes included) before the first frame and after frames ${base.frame}, ${samples[2]!.frame} and ${last.frame} (the last once every frame is answered). Target: no process's peak grows by ${100 * GROWTH_LIMIT} % or more over the last ${last.frame - base.frame} frames.\n\n` +
      `${table}\n\n${outcome}\n`,
  );
  console.log(`${table}\n${outcome}`);
}

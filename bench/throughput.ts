/**
 * Throughput on loopback: `edgefuse up --devices N` (default: YOLOv2 on 6 devices,
 * seeded synthetic weights, the default plan and admission) and a camera at increasing
 * rates for a fixed time each (lab/experiments/throughput.ts: the sweep, the table and
 * the plots). `npm run bench -- throughput --model yolov2 --devices 6 --rates 0.5,1
 * --duration 60`; without --rates, multiples of 1/L (the single-request latency).
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { CACHE_DIR, modelCfg, sampleImage } from "../core/paths.js";
import { loadNetwork } from "../dnn/network.js";
import { cachedSyntheticWeights } from "../dnn/synthetic.js";
import {
  ratesFor,
  singleRequestMs,
  sweepRates,
  throughputDir,
  writeThroughput,
} from "../lab/experiments/throughput.js";
import { benchFlags, modelName } from "./flags.js";
import { withUp } from "./up-process.js";

/** Frames per second, comma-separated: `0.25,0.5,1`. */
export const ratesSchema = z
  .string()
  .transform((s) => s.split(",").map(Number))
  .pipe(z.array(z.number().positive("expected frames per second > 0, e.g. 0.25,0.5,1")).min(1));

const throughputFlags = z.object({
  model: modelName.default("yolov2"),
  devices: z.coerce.number().int().min(1).default(6),
  rates: ratesSchema.optional(),
  duration: z.coerce.number().positive().default(60),
});

/** Long enough for a full queue to drain behind the last frame at saturation. */
const TIMEOUT_MS = 180_000;

export async function benchThroughput(args: readonly string[]): Promise<void> {
  const o = benchFlags("throughput", args, throughputFlags);
  const cfg = modelCfg(o.model);
  const { path: weights } = cachedSyntheticWeights(loadNetwork(cfg), 1, CACHE_DIR);
  const image = readFileSync(sampleImage("dog.jpg"));
  const log = (line: string) => console.log(line);
  await withUp({ devices: o.devices, cfg, weights, image, timeoutMs: TIMEOUT_MS }, async (up) => {
    const stream = (fps: number, count: number) => up.stream(fps, count);
    const singleMs = await singleRequestMs(stream);
    const inFlight = up.load()?.inFlightLimit;
    log(`throughput: L ${singleMs.toFixed(0)} ms, ${inFlight ?? "?"} in flight`);
    const rows = await sweepRates(stream, ratesFor(o.rates, singleMs), o.duration, log);
    const dir = throughputDir(`loopback-${o.model}-${o.devices}dev`);
    writeThroughput(
      {
        where: `loopback, \`up --devices ${o.devices}\` (default plan; in flight ${inFlight ?? "auto"}, queue 16, reject)`,
        model: o.model,
        devices: o.devices,
        durationS: o.duration,
        singleRequestMs: singleMs,
        rows,
      },
      {
        section: "throughput-loopback",
        dir,
        heading: `Throughput on loopback: a camera at increasing rates, \`up --devices ${o.devices}\`, ${o.model}`,
      },
    );
    log(`throughput: written to ${dir}`);
  });
}

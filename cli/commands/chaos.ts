/**
 * `edgefuse chaos`: starts a deployment of its own on a real Mosquitto (the planner, the
 * source and N−1 workers, each a process), sends it a steady stream of requests and,
 * at times drawn from --seed, SIGKILLs workers and the broker and starts them again. It
 * prints, per fault, what became of every request and exits 1 when a request had no
 * outcome or two, or the deployment did not serve again within 30 s of the last fault.
 */
import { appendFileSync, readFileSync } from "node:fs";
import { CACHE_DIR, sampleImage } from "../../core/paths.js";
import { InputError } from "../../core/errors.js";
import { defineCommand, flag } from "../command.js";
import { defineFlags } from "../flags.js";
import { resolveCfg } from "../planning-flags.js";
import { chaosDefaults, runChaos } from "../../bench/chaos/run.js";
import { reportLines } from "../../bench/chaos/report.js";

const seconds = (what: string) => flag.number(what).refine((n) => n > 0, "must be > 0");
const ms = (min: number) => flag.int("milliseconds").refine((n) => n >= min, `must be ≥ ${min}`);

const flags = defineFlags({
  cfg: {
    value: "FILE|NAME",
    description: "the darknet cfg: a file, or a model shipped with edgefuse",
    default: "yolov2-mini",
  },
  weights: { value: "FILE", description: "darknet weights for --cfg", defaultText: "seeded synthetic ones (seed 1)" },
  devices: {
    value: "N",
    description: "devices in all: the source and N−1 workers",
    schema: flag.intIn("a device count", 2, 16),
    default: String(chaosDefaults.devices),
  },
  seed: {
    value: "N",
    description: "the seed the faults' times, kinds and victims are drawn from",
    schema: flag.int("a seed"),
    default: String(chaosDefaults.seed),
  },
  duration: {
    value: "S",
    description: "seconds of faults, counted from the first request served",
    schema: seconds("seconds"),
    default: String(chaosDefaults.durationMs / 1000),
  },
  "fault-every": {
    value: "S",
    description: "mean seconds between one fault's end and the next one's start",
    schema: seconds("seconds"),
    default: String(chaosDefaults.meanGapMs / 1000),
  },
  "interval-ms": {
    value: "MS",
    description: "one request every MS while the source is online",
    schema: ms(10),
    default: String(chaosDefaults.intervalMs),
  },
  "deadline-ms": {
    value: "MS",
    description: "how long a request may wait for its outcome (the source waits up to 60 s for a ready plan)",
    schema: ms(100),
    default: String(chaosDefaults.deadlineMs),
  },
  "timeout-ms": {
    value: "MS",
    description: "the source's deadline for one job (edgefuse source --timeout-ms)",
    schema: ms(100),
    default: String(chaosDefaults.jobTimeoutMs),
  },
  port: { value: "P", description: "Mosquitto's port (0 = any free port)", schema: flag.port(), default: "0" },
  image: { value: "FILE", description: "the image every request sends", default: sampleImage("dog.jpg") },
  logs: { value: "FILE", description: "append every process's output to FILE", defaultText: "not kept" },
  json: { description: "print the report as JSON instead of text" },
});

export const chaosCommand = defineCommand({
  name: "chaos",
  flags,
  async run(o) {
    let image: Buffer;
    try {
      image = readFileSync(o.image);
    } catch (err) {
      throw new InputError(o.image, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const [{ loadNetwork }, { cachedSyntheticWeights }] = await Promise.all([
      import("../../dnn/network.js"),
      import("../../dnn/synthetic.js"),
    ]);
    const cfg = resolveCfg(o.cfg);
    const weights = o.weights ?? cachedSyntheticWeights(loadNetwork(cfg), 1, CACHE_DIR).path;
    const progress = (line: string) => console.error(`chaos: ${line}`);
    // Stopped half-way, it exits at once; its processes go with it (chaos/processes.ts).
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
    const logs = o.logs;
    const report = await runChaos({
      ...chaosDefaults,
      cfg,
      weights,
      devices: o.devices,
      seed: o.seed,
      durationMs: o.duration * 1000,
      meanGapMs: o["fault-every"] * 1000,
      intervalMs: o["interval-ms"],
      deadlineMs: o["deadline-ms"],
      jobTimeoutMs: o["timeout-ms"],
      port: o.port,
      image,
      progress,
      log: logs ? (line) => appendFileSync(logs, `${new Date().toISOString()} ${line}\n`) : () => undefined,
    });
    console.log(o.json ? JSON.stringify(report, null, 2) : reportLines(report).join("\n"));
    return report.problems.length ? 1 : 0;
  },
});

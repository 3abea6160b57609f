/**
 * `edgefuse camera`: a camera for a running deployment, or a load generator: publishes
 * IMAGE (or every JPEG/PNG of DIR, in turn) at --fps for --count frames and prints the
 * throughput, latency percentiles and what was dropped or refused (camera-stream.ts).
 * Exits non-zero when a frame got no answer or two.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { InputError } from "../../core/errors.js";
import { topicsFor } from "../../broker/topics.js";
import { sourceDefaults } from "../../actors/source/source.js";
import { runStream, streamText } from "../camera-stream.js";
import { defineCommand, flag, usageError } from "../command.js";
import { connect, connectionFlags } from "../connection.js";
import { defineFlags } from "../flags.js";

const flags = defineFlags({
  ...connectionFlags,
  fps: {
    value: "F",
    description: "frames per second offered",
    schema: z
      .string()
      .regex(/^\d+(\.\d+)?$/, "expected frames per second, e.g. 2 or 0.5")
      .transform(Number)
      .refine((f) => f > 0, "must be > 0"),
    default: "1",
  },
  count: {
    value: "N",
    description: "frames to send",
    schema: flag.int("a frame count").refine((n) => n >= 1, "must be ≥ 1"),
    default: "30",
  },
  "timeout-ms": {
    value: "MS",
    description: "how long after the last frame answers may still come",
    schema: flag.int("milliseconds").refine((n) => n >= 1, "must be ≥ 1"),
    default: String(sourceDefaults.jobTimeoutMs),
  },
  json: { description: "print the report as JSON" },
});

/** IMAGE's bytes, or DIR's JPEG and PNG files' in name order. */
function frames(path: string): Buffer[] {
  try {
    if (!statSync(path).isDirectory()) return [readFileSync(path)];
    const names = readdirSync(path)
      .filter((n) => /\.(jpe?g|png)$/i.test(n))
      .sort();
    if (names.length === 0) throw new InputError(path, "no .jpg, .jpeg or .png file in this directory");
    return names.map((n) => readFileSync(join(path, n)));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(path, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export const cameraCommand = defineCommand({
  name: "camera",
  flags,
  positionals: "IMAGE|DIR",
  async run(o, usage) {
    const [path, ...extra] = o.positionals;
    if (!path || extra.length) throw usageError("give exactly one IMAGE or DIR", usage);
    const images = frames(path);
    const bus = await connect(o, `camera-${process.pid}`);
    try {
      const report = await runStream(bus, topicsFor(o.deployment), {
        fps: o.fps,
        count: o.count,
        images,
        timeoutMs: o["timeout-ms"],
        progress: (line) => console.error(`camera: ${line}`),
      });
      console.log(o.json ? JSON.stringify(report) : streamText(report));
      if (report.unanswered > 0 || report.duplicates > 0) process.exitCode = 1;
    } finally {
      await bus.close();
    }
  },
});

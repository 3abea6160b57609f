/**
 * `edgefuse lab`: one experiment setting in a namespace lab — N devices (the source
 * beside the broker in the hub, N−1 workers behind shaped links), a CPU quota each —
 * and the chosen plan variants, each planned, warmed up and timed. Prints a table,
 * or with --json one record per timed request. Progress goes to stderr.
 */
import { z } from "zod";
import { sampleImage } from "../../core/paths.js";
import { runLabExperiment, type RunRecord } from "../../lab/experiment.js";
import { parseRate } from "../../lab/shaping.js";
import {
  assertRoot,
  CPU_BUDGET,
  defaultCpuShare,
  isSchemeName,
  resolveModel,
  scheme,
  STRATEGIES,
} from "../../lab/setup.js";
import { formatTable } from "../../lab/tables.js";
import { defineCommand, flag, type FlagRule } from "../command.js";
import { devicesText } from "../devices.js";
import { defineFlags } from "../flags.js";
import { planningFlags } from "../planning-flags.js";

/** The flags `lab` and `experiment` share: CPU per device, the model and the image. */
/** `--repeats R`, as the lab and the experiment take it. */
export const repeatsFlag = (description: string) =>
  ({ value: "R", description, schema: flag.int("a count").refine((n) => n >= 1, "at least 1"), default: "3" }) as const;

export const labModelFlags = defineFlags({
  cpu: {
    value: "SHARE",
    description: "each device's CPU quota, in cores",
    schema: flag.number("a fraction of one core").refine((c) => c >= 0.05 && c <= 2, "between 0.05 and 2 cores"),
    defaultText: `${CPU_BUDGET} cores / devices, at least 0.2`,
  },
  cfg: {
    value: "FILE",
    description: "the darknet cfg (with --weights)",
    defaultText: "YOLOv2 608 with seeded synthetic weights",
  },
  weights: { value: "FILE", description: "darknet weights for --cfg" },
  image: { value: "FILE", description: "the image every timed request sends", default: sampleImage("dog.jpg") },
});

export const modelTogether: FlagRule<{ cfg?: string | undefined; weights?: string | undefined }> = {
  flag: "cfg",
  message: "--cfg and --weights go together (neither: YOLOv2 with synthetic weights)",
  holds: (o) => (o.cfg === undefined) === (o.weights === undefined),
};

/** A tc rate (100mbit, 1gbit) → megabits per second. */
export const rateSchema = z.string().transform((s, ctx) => {
  try {
    return parseRate(s);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});

/** Root first (nothing else matters without it), then the model to run. */
export function prepareLab(command: string, o: { cfg?: string; weights?: string }): { cfg: string; weights: string } {
  assertRoot(command);
  return resolveModel(o.cfg, o.weights);
}

const flags = defineFlags({
  devices: {
    value: "N",
    description: "devices in all: the source (in the hub) and N−1 workers behind shaped links",
    schema: flag.intIn("a device count", 1, 16),
    default: "3",
  },
  bandwidth: {
    value: "RATE",
    description: "each worker link's rate, both ways (tc units: 100mbit, 1gbit)",
    schema: rateSchema,
    default: "100mbit",
  },
  ...labModelFlags,
  scheme: {
    value: "S,S,...",
    description: `the plan variants to time, comma-separated: ${STRATEGIES.join(", ")}`,
    schema: z
      .string()
      .transform((s) => s.split(","))
      .refine((names) => names.every(isSchemeName), `expected a comma-separated list of ${STRATEGIES.join(", ")}`),
    default: "auto",
  },
  "ftp-layers": planningFlags["ftp-layers"],
  repeats: repeatsFlag("timed requests per variant, after one warm-up"),
  json: { description: "print one JSON record per timed request instead of the table" },
});

export const labCommand = defineCommand({
  name: "lab",
  flags,
  rules: [modelTogether],
  async run(o) {
    const model = prepareLab("lab", o);
    const cpuShare = o.cpu ?? defaultCpuShare(o.devices);
    const schemes = o.scheme.filter(isSchemeName).map((name) => scheme(name, o["ftp-layers"]));
    const log = (line: string): void => void process.stderr.write(`lab: ${line}\n`);
    log(
      `${devicesText(o.devices)} at ${o.bandwidth} mbit, ${cpuShare} core each; ${schemes.map((s) => s.label).join(", ")}; ${o.repeats} timed request(s) after one warm-up`,
    );
    const records: RunRecord[] = await runLabExperiment({
      devices: o.devices,
      bandwidthMbit: o.bandwidth,
      cpuShare,
      ...model,
      image: o.image,
      schemes,
      repeats: o.repeats,
      log,
      onRecord: (r) => {
        if (o.json) console.log(JSON.stringify(r));
        else
          log(`${r.scheme} #${r.repeat}: ${r.latencyMs.toFixed(0)} ms (lower bound ${r.lowerBoundMs.toFixed(0)} ms)`);
      },
    });
    if (!o.json) console.log(formatTable(records));
  },
});

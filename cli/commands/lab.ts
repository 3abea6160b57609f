/**
 * `edgefuse lab`: one experiment setting in a namespace lab — N devices laid out by a
 * topology (lab/topology.ts), each with its link rate, CPU quota and memory — and the
 * chosen plan variants, each planned, warmed up and timed. Prints a table, or with
 * --json one record per timed request (measured latency beside the plan's predicted
 * one). Progress goes to stderr.
 */
import { z } from "zod";
import { sampleImage } from "../../core/paths.js";
import { runLabExperiment, type RunRecord } from "../../lab/experiment.js";
import { parseRate } from "../../lab/shaping.js";
import {
  assertRoot,
  CPU_BUDGET,
  DEFAULT_CPU_SHARE,
  defaultCpuShare,
  isSchemeName,
  resolveModel,
  scheme,
  STRATEGIES,
} from "../../lab/setup.js";
import { LAB_MEMORY_MB } from "../../lab/session.js";
import { formatTable } from "../../lab/tables.js";
import { gatewayMbitFlag, gatewayRule, shardMbitFlag, topologyFlag } from "../lab-flags.js";
import { defineCommand, flag, type FlagRule } from "../command.js";
import { devicesText } from "../devices.js";
import { defineFlags } from "../flags.js";
import { WIRE_CHOICES } from "../../planner/wire.js";
import { planningFlags } from "../planning-flags.js";

/** `--repeats R`, as the lab and the experiment take it. */
export const repeatsFlag = (description: string) =>
  ({ value: "R", description, schema: flag.int("a count").refine((n) => n >= 1, "at least 1"), default: "3" }) as const;

/** The flags `lab` and `experiment` share: CPU per device (one share; `lab` takes lists), the model and the image. */
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

const cpuShareSchema = flag
  .number("a fraction of one core")
  .refine((c) => c >= 0.05 && c <= 2, "between 0.05 and 2 cores");

const flags = defineFlags({
  devices: {
    value: "N",
    description: "devices in all: the source and N−1 workers",
    schema: flag.intIn("a device count", 1, 16),
    default: "3",
  },
  topology: topologyFlag(
    "paper = every device, the source too, behind its own shaped link, the broker and planner on the source device under its CPU quota; hub = the broker, planner and source on the unshaped centre, only the workers behind links; gateway = the broker and planner on a host of their own behind a link of --gateway-mbit, the source behind its link like the workers",
  ),
  "gateway-mbit": gatewayMbitFlag,
  bandwidth: {
    value: "RATE[,RATE…]",
    description:
      "each device's link rate, both ways (tc units: 100mbit, 1gbit): one for every device or one per device, the source first",
    schema: flag.list(rateSchema),
    default: "100mbit",
  },
  ...labModelFlags,
  cpu: {
    value: "SHARE[,SHARE…]|shared",
    description: `each device's CPU quota in cores: one for every device or one per device, the source first; shared = ${CPU_BUDGET} cores divided among the devices (at least 0.2)`,
    schema: z.union([z.literal("shared"), flag.list(cpuShareSchema)]),
    default: String(DEFAULT_CPU_SHARE),
  },
  memory: {
    value: "MB[,MB…]",
    description: "each device's --memory: one for every device or one per device, the source first",
    schema: flag.list(flag.megabytes()),
    default: String(LAB_MEMORY_MB),
  },
  "shard-mbit": shardMbitFlag({ defaultText: "every link at its own rate throughout" }),
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
  objective: planningFlags.objective,
  split: planningFlags.split,
  wire: {
    value: "W,W,...",
    description: `how tensors travel, each timed as its own variant beside the schemes: ${WIRE_CHOICES.join(", ")} (edgefuse plan --help says what each means)`,
    schema: flag.list(z.enum(WIRE_CHOICES)),
    default: "auto",
  },
  repeats: repeatsFlag("timed requests per variant, after one warm-up"),
  json: { description: "print one JSON record per timed request instead of the table" },
});

type Lists = { devices: number; bandwidth: number[]; cpu: "shared" | number[]; memory: number[] };
/** A list gives one value for every device or one each: any other length is refused. */
const listRules: FlagRule<Lists>[] = (["bandwidth", "cpu", "memory"] as const).map((name) => ({
  flag: name,
  message: "give one value for every device or one per device (the source first), as many as --devices",
  holds: (o) => {
    const values = o[name];
    return values === "shared" || values.length === 1 || values.length === o.devices;
  },
}));

/** One value as a number, several as the per-device list. */
const oneOrEach = (values: number[]): number | number[] => (values.length === 1 ? values[0]! : values);
const listText = (values: number | number[], unit: string): string =>
  typeof values === "number" ? `${values} ${unit} each` : `${values.join("/")} ${unit}`;

export const labCommand = defineCommand({
  name: "lab",
  flags,
  rules: [modelTogether, gatewayRule, ...listRules],
  async run(o) {
    const model = prepareLab("lab", o);
    const cpuShare = o.cpu === "shared" ? defaultCpuShare(o.devices) : oneOrEach(o.cpu);
    const bandwidthMbit = oneOrEach(o.bandwidth);
    const memoryMb = oneOrEach(o.memory);
    // Every scheme as every wire type asked for; a label names the wire only when more than one is timed.
    const schemes = o.scheme
      .filter(isSchemeName)
      .map((name) => scheme(name, o["ftp-layers"]))
      .flatMap((s) =>
        o.wire.map((wire) => ({
          label: o.wire.length > 1 ? `${s.label}@${wire}` : s.label,
          planning: { ...s.planning, objective: o.objective, split: o.split, wire },
        })),
      );
    const log = (line: string): void => void process.stderr.write(`lab: ${line}\n`);
    const gateway = o["gateway-mbit"];
    log(
      `${devicesText(o.devices)}, ${o.topology} topology${gateway === undefined ? "" : ` (gateway ${gateway} mbit)`}, ${listText(bandwidthMbit, "mbit")}, ${listText(cpuShare, "core")}, ${listText(memoryMb, "MB")}; ${schemes.map((s) => s.label).join(", ")}; ${o.repeats} timed request(s) after one warm-up`,
    );
    const records: RunRecord[] = await runLabExperiment({
      devices: o.devices,
      topology: o.topology,
      ...(gateway === undefined ? {} : { gatewayMbit: gateway }),
      bandwidthMbit,
      cpuShare,
      memoryMb,
      ...(o["shard-mbit"] === undefined ? {} : { shardMbit: o["shard-mbit"] }),
      ...model,
      image: o.image,
      schemes,
      repeats: o.repeats,
      log,
      onRecord: (r) => {
        if (o.json) console.log(JSON.stringify(r));
        else log(`${r.scheme} #${r.repeat}: ${recordText(r)}`);
      },
    });
    if (!o.json) console.log(formatTable(records));
  },
});

/** "812 ms (predicted 790 ms, lower bound 640 ms)". */
function recordText(r: RunRecord): string {
  const predicted = r.predictedMs === null ? "no prediction" : `predicted ${r.predictedMs.toFixed(0)} ms`;
  return `${r.latencyMs.toFixed(0)} ms (${predicted}, lower bound ${r.lowerBoundMs.toFixed(0)} ms)`;
}

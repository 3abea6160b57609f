/**
 * `edgefuse experiment`: the paper's Tables 1 and 2, or the planner check
 * (`--planner-check`), the wire check (`--wire-check`), or a camera's throughput at
 * increasing rates (`--throughput`, lab/experiments/throughput-lab.ts), in namespace labs. It says the grid's size and a rough time up
 * front, prints one progress line per timed request with an ETA, and rewrites the
 * output directory after every setting, so an interrupted run keeps its data.
 */
import { basename, join } from "node:path";
import { existsSync } from "node:fs";
import { z } from "zod";
import { UsageError } from "../../core/errors.js";
import { CACHE_DIR, modelCfg, PACKAGE_ROOT } from "../../core/paths.js";
import { loadNetwork } from "../../dnn/network.js";
import { cachedSyntheticWeights } from "../../dnn/synthetic.js";
import { estimateGrid, estimateText, networkSize, settingSeconds } from "../../lab/experiments/estimate.js";
import { experimentGrid, type Setting } from "../../lab/experiments/grid.js";
import { plannerCheckGrid } from "../../lab/experiments/planner-check.js";
import { wireCheckGrid } from "../../lab/experiments/wire-check.js";
import { runGrid } from "../../lab/experiments/run-grid.js";
import { runLabThroughput } from "../../lab/experiments/throughput-lab.js";
import { assertRoot, DEFAULT_CPU_SHARE, resolveModel } from "../../lab/setup.js";
import { maxFtpEnd } from "../../planner/ftp.js";
import { isPaperNetwork } from "../../planner/strategies.js";
import { defineCommand, flag, type FlagRule } from "../command.js";
import { defineFlags } from "../flags.js";
import { gatewayMbitFlag, gatewayRule, mbitSchema, shardMbitFlag, topologyFlag } from "../lab-flags.js";
import { labModelFlags, modelTogether, repeatsFlag } from "./lab.js";

const today = (): string => new Date().toISOString().slice(0, 10);

/** The experiment's default memory per device: a device process (~170 MB measured in the lab) and 60 % of the weights. */
const EXPERIMENT_PROCESS_MB = 170;
const EXPERIMENT_WEIGHT_SHARE = 0.6;

const flags = defineFlags({
  "planner-check": {
    description:
      "the planner check instead of the paper's tables: 10/100/1000 mbit × 3 and 6 devices × identical or heterogeneous devices, the default plan beside every fixed alternative",
  },
  "wire-check": {
    description:
      "the wire check instead: 6 devices at 100, 1000 and 10 mbit (--mbit to pick), the least-C ILP at FTP 0–11 and the default plan, each with tensors as f32, f16, q8 and auto",
  },
  throughput: {
    description:
      "a camera at increasing rates instead: one deployment (the first --devices and --mbit, default 6 and 100) on the default plan; per rate the frames/s achieved, p50/p99 latency, drops and refusals, beside the single-request latency (BENCHMARKS.md, docs/results/<today>/throughput-lab-…)",
  },
  rates: {
    value: "FPS,FPS,...",
    description: "with --throughput: the offered rates, frames per second",
    schema: flag.list(flag.number("frames per second").refine((f) => f > 0, "must be > 0")),
    defaultText: "0.5, 1, 1.5, 2, 2.5 and 3 × 1/L (L: the single-request latency)",
  },
  duration: {
    value: "S",
    description: "with --throughput: seconds per rate",
    schema: flag.int("seconds").refine((n) => n >= 1, "must be ≥ 1"),
    default: "60",
  },
  quick: { description: "the paper's tables on a small grid: 6 and 3 devices at 100 mbit, fewer variants" },
  topology: topologyFlag(
    "where the broker, planner and source sit (edgefuse lab --help): paper = every device behind its own link, the broker on the source; hub = broker, planner and source on the unshaped centre",
  ),
  "gateway-mbit": gatewayMbitFlag,
  model: {
    value: "NAME",
    description:
      "a cfg of models/cfg (yolov2, yolov2-tiny, …) with seeded synthetic weights, instead of --cfg and --weights",
    schema: z
      .string()
      .refine(
        (name) => /^[\w.-]+$/.test(name) && existsSync(modelCfg(name)),
        "expected the name of a cfg in models/cfg",
      ),
    defaultText: "yolov2",
  },
  out: {
    value: "DIR",
    description: "where runs.csv, runs.jsonl, the tables and the plots go",
    defaultText:
      "docs/results/<today>/<tables|planner-check|wire-check>-<topology>, or throughput-lab-<model>-<N>dev-<M>mbit-<topology>",
  },
  repeats: repeatsFlag("timed requests per plan variant, after one warm-up"),
  "dry-run": { description: "print the grid (every setting and its variants) and the time estimate, run nothing" },
  memory: {
    value: "MB",
    description:
      "every device's --memory, its process included; the default leaves each device room for 60 % of the model's weights beyond a ~170 MB process, so no device holds the whole model",
    schema: flag.megabytes(),
    defaultText: "170 + 0.6 × the weights in MB",
  },
  mbit: {
    value: "MBIT,MBIT,...",
    description: "run only the grid's settings at these link rates (e.g. 100,1000)",
    schema: flag.list(mbitSchema),
    defaultText: "every rate of the grid",
  },
  devices: {
    value: "N,N,...",
    description: "run only the grid's settings with these device counts (e.g. 6)",
    schema: flag.list(flag.int("a device count").refine((n) => n > 0, "at least 1")),
    defaultText: "every count of the grid",
  },
  variants: {
    value: "LABEL,LABEL,...",
    description: "run only these plan variants of each setting (their labels, e.g. default,paper)",
    schema: z.string().transform((s) => s.split(",")),
    defaultText: "every variant",
  },
  "shard-mbit": shardMbitFlag({ default: "1000" }),
  ...labModelFlags,
  cpu: {
    ...labModelFlags.cpu,
    description: "every device's CPU quota, in cores (a heterogeneous setting halves one device's)",
    defaultText: String(DEFAULT_CPU_SHARE),
  },
});

const oneModel: FlagRule<{ model?: string | undefined; cfg?: string | undefined }> = {
  flag: "model",
  message: "names a built-in cfg: give it or --cfg with --weights, not both",
  holds: (o) => o.model === undefined || o.cfg === undefined,
};

/** A built-in cfg with seeded weights (cached), the cfg and weights given, or YOLOv2. */
function experimentModel(o: { model?: string; cfg?: string; weights?: string }): { cfg: string; weights: string } {
  if (o.model === undefined) return resolveModel(o.cfg, o.weights);
  const cfg = modelCfg(o.model);
  return { cfg, weights: cachedSyntheticWeights(loadNetwork(cfg), 1, CACHE_DIR).path };
}

function gridLines(grid: readonly Setting[], time: (s: Setting) => number): string[] {
  return grid.map(
    (s) =>
      `  ${s.devices} devices, ${s.bandwidthMbit} mbit, ${s.profile} (~${Math.ceil(time(s) / 60)} min): ${s.schemes.map((v) => v.label).join(", ")}`,
  );
}

/** The part of a grid that --mbit, --devices and --variants leave; refused when nothing is left. */
function gridPart(
  grid: readonly Setting[],
  o: { readonly mbit?: number[]; readonly devices?: number[]; readonly variants?: string[] },
): Setting[] {
  const kept = grid
    .filter((s) => (o.mbit?.includes(s.bandwidthMbit) ?? true) && (o.devices?.includes(s.devices) ?? true))
    .map((s) => ({ ...s, schemes: s.schemes.filter((v) => o.variants?.includes(v.label) ?? true) }))
    .filter((s) => s.schemes.length > 0);
  if (kept.length === 0) throw new UsageError("--mbit, --devices and --variants leave nothing of the grid to run");
  return kept;
}

const oneCheck: FlagRule<{ "planner-check"?: boolean; "wire-check"?: boolean }> = {
  flag: "wire-check",
  message: "is a grid of its own: give it or --planner-check, not both",
  holds: (o) => !(o["planner-check"] && o["wire-check"]),
};

const throughputAlone: FlagRule<{
  throughput?: boolean;
  "planner-check"?: boolean;
  "wire-check"?: boolean;
  quick?: boolean;
}> = {
  flag: "throughput",
  message: "is a run of its own: not with --planner-check, --wire-check or --quick",
  holds: (o) => !(o.throughput && (o["planner-check"] || o["wire-check"] || o.quick)),
};

export const experimentCommand = defineCommand({
  name: "experiment",
  flags,
  rules: [modelTogether, gatewayRule, oneModel, oneCheck, throughputAlone],
  async run(o) {
    const dryRun = o["dry-run"];
    if (!dryRun) assertRoot("experiment");
    const model = experimentModel(o);
    const network = loadNetwork(model.cfg);
    const size = networkSize(network);
    const memoryMb = o.memory ?? Math.round(EXPERIMENT_PROCESS_MB + EXPERIMENT_WEIGHT_SHARE * (size.weightBytes / 1e6));
    const log = (line: string): void => void process.stderr.write(`${line}\n`);
    const cpuShare = o.cpu ?? DEFAULT_CPU_SHARE;
    const gateway = o["gateway-mbit"];
    /** Every setting's lab, but for its devices, rates and shares. */
    const session = {
      topology: o.topology,
      memoryMb,
      shardMbit: o["shard-mbit"],
      ...(gateway === undefined ? {} : { gatewayMbit: gateway }),
      ...model,
      image: o.image,
    };
    if (o.throughput) {
      if (dryRun) return log("experiment --throughput: nothing to print without running");
      const dir = await runLabThroughput({
        session: { ...session, devices: o.devices?.[0] ?? 6, bandwidthMbit: o.mbit?.[0] ?? 100, cpuShare },
        model: o.model ?? basename(model.cfg, ".cfg"),
        ...(o.rates ? { rates: o.rates } : {}),
        durationS: o.duration,
        ...(o.out ? { out: o.out } : {}),
        log,
      });
      return log(`written to ${dir} and BENCHMARKS.md`);
    }
    const kind = o["planner-check"] ? "planner-check" : o["wire-check"] ? "wire-check" : "tables";
    const grid = gridPart(
      kind === "planner-check"
        ? plannerCheckGrid({ paperPlan: isPaperNetwork(network), maxFtpEnd: maxFtpEnd(network) })
        : kind === "wire-check"
          ? wireCheckGrid(maxFtpEnd(network))
          : experimentGrid(o.quick),
      o,
    );
    const out = o.out ?? join(PACKAGE_ROOT, "docs", "results", today(), `${kind}-${o.topology}`);
    const estimate = { repeats: o.repeats, cpuShare };
    log(
      `experiment (${kind}, ${o.topology} topology, ${basename(model.cfg)}, ${cpuShare} core per device): ${estimateText(estimateGrid(grid, size, estimate))} → ${out}`,
    );
    for (const line of gridLines(grid, (s) => settingSeconds(s, size, estimate))) log(line);
    if (dryRun) return;
    await runGrid({
      grid,
      repeats: o.repeats,
      cpuShare,
      session,
      report: { grid: kind, totalWeightsBytes: size.weightBytes },
      out,
      log,
    });
  },
});

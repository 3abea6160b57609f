/**
 * `edgefuse plan`: make a plan offline for a model and N devices and print it as the
 * paper's Table 2 (per layer kind, M, K, Q, scheme, F_n, C, then totals), as JSON, or
 * with `--compare` every variant side by side; optionally write it and its weight
 * shards to disk. The planner actor, which plans for the workers present on a broker,
 * is `edgefuse planner`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ID_PATTERN } from "../../broker/topics.js";
import { loadNetwork, type Network } from "../../dnn/network.js";
import { openWeights } from "../../dnn/weights.js";
import { evaluateBoundary, makePlan } from "../../planner/build.js";
import { compareVariants } from "../../planner/compare.js";
import { describeComparison, describePlan, describePrediction, ftpChoiceText } from "../../planner/describe.js";
import { ASSUMED_GMAC_PER_SEC } from "../../planner/latency.js";
import type { PlanDevice } from "../../planner/schema.js";
import { deviceLinkFlags, perDeviceLinks, speedFlag } from "../devices.js";
import { buildShards } from "../../planner/shards.js";
import { defineCommand, flag, type FlagRule } from "../command.js";
import { defineFlags, type FlagValues } from "../flags.js";
import { pinsNeedAuto, planningFlags, planningOf, resolveCfg } from "../planning-flags.js";

/** `N` devices get the ids w1…wN; a list names them. */
const devicesSchema = z.string().transform((s, ctx) => {
  if (/^[+-]?\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= 256) return Array.from({ length: n }, (_, i) => `w${i + 1}`);
    ctx.addIssue({ code: "custom", message: `expected 1..256 devices, got ${n}` });
    return z.NEVER;
  }
  const ids = s.split(",");
  const bad = ids.find((id) => !ID_PATTERN.test(id)) ?? ids.find((id, i) => ids.indexOf(id) !== i);
  if (bad === undefined) return ids;
  ctx.addIssue({
    code: "custom",
    message: ID_PATTERN.test(bad)
      ? `device id '${bad}' is listed twice`
      : `device id '${bad}': expected 1-64 of [A-Za-z0-9._:-]`,
  });
  return z.NEVER;
});

const flags = defineFlags({
  ...planningFlags,
  devices: {
    value: "N|ID,ID,...",
    description: "the devices to plan for, the source included: a count, or their ids",
    schema: devicesSchema,
    required: true,
  },
  memory: {
    value: "MB",
    description: "megabytes of weights each device may hold",
    schema: flag.megabytes(),
    defaultText: "no limit",
  },
  "gmac-per-sec": {
    value: "N|N,N,...",
    description: "each device's compute speed, GMAC/s: one for all, or one per device (the source first)",
    schema: flag.list(speedFlag.schema),
    defaultText: `${ASSUMED_GMAC_PER_SEC} (assumed)`,
  },
  ...deviceLinkFlags,
  explain: {
    description: "print the predicted time of every stage and what bounds it (which device's compute, which link)",
  },
  compare: { description: "print every variant (all-LOP, fuse-all, the optimum, the authors' plan, …) side by side" },
  json: { description: "print the plan (or with --compare the variants) as JSON" },
  out: { value: "PLAN.json", description: "write the plan to this file" },
  weights: { value: "FILE", description: "darknet weights to cut the shards from (with --shards)" },
  shards: { value: "DIR", description: "write the plan's weight shards here, one file per sha256 (with --weights)" },
});

const rules: FlagRule<FlagValues<typeof flags>>[] = [
  pinsNeedAuto,
  ...(["gmac-per-sec", "uplink", "downlink"] as const).map((name) => ({
    flag: name,
    message: "give one value for every device or one per device (the source first), as many as --devices",
    holds: (o: Flags) => {
      const n = o[name]?.length;
      return n === undefined || n === 1 || n === o.devices.length;
    },
  })),
  {
    flag: "shards",
    message: "--weights and --shards go together",
    holds: (o) => (o.weights === undefined) === (o.shards === undefined),
  },
  {
    flag: "compare",
    message: "--compare prints the variants; --out and --shards write one plan",
    holds: (o) => !(o.compare && (o.out || o.shards)),
  },
];

type Flags = FlagValues<typeof flags>;

/** The devices as given, the first the source, with what each announces. */
const devicesOf = (o: Flags): PlanDevice[] => {
  const links = perDeviceLinks({ devices: o.devices.length, uplink: o.uplink, downlink: o.downlink });
  const speeds = o["gmac-per-sec"];
  return o.devices.map((workerId, i) => ({
    workerId,
    ...(i === 0 ? { role: "source" as const } : {}),
    ...(o.memory === undefined ? {} : { memoryBudgetBytes: Math.round(o.memory * 1e6) }),
    ...(speeds ? { gmacPerSec: speeds[i] ?? speeds[0]! } : {}),
    ...links[i],
  }));
};

async function writeShards(o: Flags, network: Network, plan: ReturnType<typeof makePlan>) {
  const dir = o.shards!;
  mkdirSync(dir, { recursive: true });
  const file = openWeights(o.weights!, network);
  try {
    const built = await buildShards(plan, network, file, (sha, bytes) =>
      writeFileSync(join(dir, `${sha}.shard`), bytes),
    );
    return {
      plan: built.plan,
      line: `wrote ${built.shards.count} shards (${(built.shards.bytes / 1e6).toFixed(1)} MB) to ${dir}`,
    };
  } finally {
    file.close();
  }
}

function compare(o: Flags, network: Network): void {
  const { variants, optimum } = compareVariants(network, { ...planningOf(o), devices: devicesOf(o) });
  if (o.json) {
    console.log(JSON.stringify(variants, null, 2));
    return;
  }
  console.log(
    describeComparison(
      optimum.model.name,
      o.devices.length,
      variants,
      optimum.totals!.bytesPerElement,
      ftpChoiceText(optimum),
    ),
  );
}

async function plan(o: Flags, network: Network): Promise<void> {
  let plan = makePlan(network, { ...planningOf(o), devices: devicesOf(o) });
  let shardLine = "";
  if (o.shards) ({ plan, line: shardLine } = await writeShards(o, network, plan));
  if (o.out) writeFileSync(o.out, `${JSON.stringify(plan, null, 2)}\n`);
  if (o.json) {
    console.log(JSON.stringify(plan, null, 2));
    return;
  }
  const ftp = plan.ftp ? { grid: plan.ftp.grid } : {};
  const baseline =
    o.scheme === "lop"
      ? undefined
      : evaluateBoundary(
          network,
          plan.ftp?.end ?? 0,
          { ...ftp, strategy: "lop", pinned: new Map() },
          plan.devices.length,
        ).elements;
  console.log(describePlan(plan, network, baseline));
  if (o.explain) console.log(`\n${describePrediction(plan)}`);
  if (shardLine) console.log(shardLine);
  if (o.out) console.log(`wrote ${o.out}`);
}

export const planCommand = defineCommand({
  name: "plan",
  flags,
  rules,
  async run(o) {
    const network = loadNetwork(resolveCfg(o.cfg));
    await (o.compare ? compare(o, network) : plan(o, network));
  },
});

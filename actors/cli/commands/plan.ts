/**
 * `edgefuse plan`: make a plan offline for a model and N devices and print it as the
 * paper's Table 2 (per layer kind, M, K, Q, scheme, F_n, C, then totals), as JSON, or
 * with `--compare` every variant side by side; optionally write it and its weight
 * shards to disk. The planner actor, which plans for the workers present on a broker,
 * is `edgefuse planner`.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ID_PATTERN } from "../../../broker/topics.js";
import { modelCfg } from "../../../core/paths.js";
import { loadNetwork, type Network } from "../../../dnn/network.js";
import { openWeights } from "../../../dnn/weights.js";
import { evaluateBoundary, makePlan, type PlanOptions } from "../../../planner/build.js";
import { compareVariants } from "../../../planner/compare.js";
import { SCHEMES, type Scheme } from "../../../planner/costs.js";
import { describeComparison, describePlan, ftpChoiceText } from "../../../planner/describe.js";
import { buildShards } from "../../../planner/shards.js";
import type { Strategy } from "../../../planner/strategies.js";
import { type Command, flag, parseFlags } from "../command.js";

const usage =
  "edgefuse plan --cfg FILE|NAME --devices N|ID,ID,... [--ftp-layers auto|auto-comm|B] [--grid NxM] [--memory MB] [--scheme auto|lop|lip|fuse-all|paper] [--pin L=SCHEME,...] [--compare] [--json] [--out PLAN.json] [--weights FILE --shards DIR]";

/** `--scheme` as the CLI names it → the planner's strategy. */
const STRATEGY_OF_SCHEME = { auto: "optimal", lop: "lop", lip: "lip", "fuse-all": "fuse-all", paper: "paper" } as const satisfies Record<string, Strategy>;
const SCHEME_NAMES = Object.keys(STRATEGY_OF_SCHEME) as (keyof typeof STRATEGY_OF_SCHEME)[];

/** The flags every planning command shares (`plan`, `planner`). */
export const planningFlags = {
  shape: {
    cfg: z.string({ error: "required: a cfg file or a model name such as yolov2" }).min(1),
    "ftp-layers": z
      .string()
      .regex(/^(auto|auto-comm|\d+)$/, "expected auto, auto-comm or a layer count B (FTP on layers 0..B-1; 0 = none)")
      .transform((s) => (s === "auto" || s === "auto-comm" ? s : Number(s)))
      .default("auto"),
    grid: z
      .string()
      .regex(/^\d+x\d+$/, "expected NxM, e.g. 3x2")
      .transform((g) => g.split("x").map(Number) as [number, number])
      .refine(([r, c]) => r >= 1 && c >= 1, "rows and columns must be ≥ 1")
      .optional(),
    scheme: z
      .string()
      .transform((s, ctx): Strategy => {
        if (Object.hasOwn(STRATEGY_OF_SCHEME, s)) return STRATEGY_OF_SCHEME[s as keyof typeof STRATEGY_OF_SCHEME];
        ctx.addIssue({ code: "custom", message: `unknown scheme '${s}': expected one of ${SCHEME_NAMES.join(", ")}` });
        return z.NEVER;
      })
      .default("optimal"),
    pin: z
      .string()
      .transform((s) => s.split(",").map((p) => p.split("=")))
      .pipe(z.array(z.tuple([flag.int("a layer index"), z.enum(SCHEMES)], { error: "expected L=SCHEME, e.g. 18=fuse1" })))
      .optional(),
  },
  options: {
    cfg: { type: "string" },
    "ftp-layers": { type: "string" },
    grid: { type: "string" },
    scheme: { type: "string" },
    pin: { type: "string" },
  } as const,
  /** Pins are choices inside the ILP: they mean nothing for a fixed scheme. */
  pinsNeedAuto: (o: { scheme: Strategy; pin?: unknown }) => !(o.pin && o.scheme !== "optimal"),
  pinsNeedAutoIssue: { message: "--pin fixes layers for --scheme auto only", path: ["pin"] },
};

const schema = z
  .object({
    ...planningFlags.shape,
    devices: z.string({ error: "required: a number of devices or their ids" }).transform((s, ctx) => {
      if (/^[+-]?\d+$/.test(s)) {
        const n = Number(s);
        if (n >= 1 && n <= 256) return Array.from({ length: n }, (_, i) => `w${i + 1}`);
        ctx.addIssue({ code: "custom", message: `expected 1..256 devices, got ${n}` });
        return z.NEVER;
      }
      const ids = s.split(",");
      const bad = ids.find((id) => !ID_PATTERN.test(id)) ?? ids.find((id, i) => ids.indexOf(id) !== i);
      if (bad === undefined) return ids;
      ctx.addIssue({ code: "custom", message: ID_PATTERN.test(bad) ? `device id '${bad}' is listed twice` : `device id '${bad}': expected 1-64 of [A-Za-z0-9._:-]` });
      return z.NEVER;
    }),
    memory: flag.number("megabytes of weights per device").refine((n) => n > 0, "must be > 0").optional(),
    compare: z.boolean().default(false),
    json: z.boolean().default(false),
    out: z.string().optional(),
    weights: z.string().optional(),
    shards: z.string().optional(),
  })
  .refine(planningFlags.pinsNeedAuto, planningFlags.pinsNeedAutoIssue)
  .refine((o) => (o.weights === undefined) === (o.shards === undefined), { message: "--weights and --shards go together", path: ["shards"] })
  .refine((o) => !(o.compare && (o.out || o.shards)), { message: "--compare prints the variants; --out and --shards write one plan", path: ["compare"] });

const options = {
  ...planningFlags.options,
  devices: { type: "string" },
  memory: { type: "string" },
  compare: { type: "boolean" },
  json: { type: "boolean" },
  out: { type: "string" },
  weights: { type: "string" },
  shards: { type: "string" },
} as const;

/** A cfg path, or the name of a model shipped with the package (`yolov2`). */
export const resolveCfg = (cfg: string): string => (existsSync(cfg) || cfg.includes("/") || cfg.endsWith(".cfg") ? cfg : modelCfg(cfg));

type PlanningFlags = z.output<z.ZodObject<typeof planningFlags.shape>>;

/** The planner's options from the shared flags. */
export const planningOf = (o: PlanningFlags): Omit<PlanOptions, "devices" | "name" | "bytesPerElement"> => ({
  ftpEnd: o["ftp-layers"],
  ...(o.grid ? { grid: { rows: o.grid[0], cols: o.grid[1] } } : {}),
  strategy: o.scheme,
  pinned: new Map<number, Scheme>(o.pin ?? []),
});

type Flags = ReturnType<typeof parseFlags<typeof schema>>;

const devicesOf = (o: Flags) => o.devices.map((workerId) => ({ workerId, ...(o.memory === undefined ? {} : { memoryBudgetBytes: Math.round(o.memory * 1e6) }) }));

async function writeShards(o: Flags, network: Network, plan: ReturnType<typeof makePlan>) {
  const dir = o.shards!;
  mkdirSync(dir, { recursive: true });
  const file = openWeights(o.weights!, network);
  try {
    const built = await buildShards(plan, network, file, (sha, bytes) => writeFileSync(join(dir, `${sha}.shard`), bytes));
    return { plan: built.plan, line: `wrote ${built.shards.count} shards (${(built.shards.bytes / 1e6).toFixed(1)} MB) to ${dir}` };
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
  console.log(describeComparison(optimum.model.name, o.devices.length, variants, optimum.totals!.bytesPerElement, ftpChoiceText(optimum)));
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
  const baseline = o.scheme === "lop" ? undefined : evaluateBoundary(network, plan.ftp?.end ?? 0, { ...ftp, strategy: "lop", pinned: new Map() }, plan.devices.length).elements;
  console.log(describePlan(plan, network, baseline));
  if (shardLine) console.log(shardLine);
  if (o.out) console.log(`wrote ${o.out}`);
}

export const planCommand: Command = {
  usage,
  async run(argv) {
    const o = parseFlags(argv, options, schema, usage);
    const network = loadNetwork(resolveCfg(o.cfg));
    await (o.compare ? compare(o, network) : plan(o, network));
  },
};

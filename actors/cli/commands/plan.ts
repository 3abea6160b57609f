/**
 * `edgefuse plan`: make a plan offline for a model and a number of workers, print it
 * as a table (or JSON), optionally write it and its weight shards to disk.
 * With `--broker`, run the planner actor instead: plan for the workers whose presence
 * is on the broker, publish plan and shards, re-plan as they come and go, until Ctrl-C.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ID_PATTERN } from "../../../broker/topics.js";
import { modelCfg } from "../../../core/paths.js";
import { connectBroker } from "../../../broker/client.js";
import { loadNetwork, type Network } from "../../../dnn/network.js";
import { openWeights } from "../../../dnn/weights.js";
import { evaluateBoundary, makePlan } from "../../../planner/build.js";
import { SCHEMES, type Scheme } from "../../../planner/costs.js";
import { describePlan } from "../../../planner/describe.js";
import { startPlanner } from "../../../planner/actor.js";
import { buildShards } from "../../../planner/shards.js";
import { type Command, flag, parseFlags } from "../command.js";

const usage = [
  "edgefuse plan --cfg FILE|NAME --workers N|ID,ID,... [--budget-mb MB] [--ftp-end auto|B] [--grid RxC] [--strategy optimal|lop] [--pin L=SCHEME,...] [--json] [--out PLAN.json] [--weights FILE --shards DIR]",
  "       edgefuse plan --cfg FILE|NAME --weights FILE --broker URL [--deployment ID] [--username NAME] [--ftp-end …] [--grid …] [--strategy …] [--pin …]   (password: EDGEFUSE_MQTT_PASSWORD)",
].join("\n");

const schema = z
  .object({
    cfg: z.string({ error: "required: a cfg file or a model name such as yolov2" }).min(1),
    workers: z.string().optional().transform((s, ctx) => {
      if (s === undefined) return undefined;
      if (/^\d+$/.test(s)) {
        const n = Number(s);
        if (n >= 1 && n <= 256) return Array.from({ length: n }, (_, i) => `w${i + 1}`);
        ctx.addIssue({ code: "custom", message: `expected 1..256 workers, got ${n}` });
        return z.NEVER;
      }
      const ids = s.split(",");
      const bad = ids.find((id) => !ID_PATTERN.test(id)) ?? ids.find((id, i) => ids.indexOf(id) !== i);
      if (bad === undefined) return ids;
      ctx.addIssue({ code: "custom", message: ID_PATTERN.test(bad) ? `worker id '${bad}' is listed twice` : `worker id '${bad}': expected 1-64 of [A-Za-z0-9._:-]` });
      return z.NEVER;
    }),
    "budget-mb": flag.number("megabytes").refine((n) => n > 0, "must be > 0").optional(),
    "ftp-end": z.union([z.literal("auto"), flag.int("auto or a layer count")]).default("auto"),
    grid: z
      .string()
      .regex(/^\d+x\d+$/, "expected RxC, e.g. 3x2")
      .transform((g) => g.split("x").map(Number) as [number, number])
      .refine(([r, c]) => r >= 1 && c >= 1, "rows and columns must be ≥ 1")
      .optional(),
    strategy: z.enum(["optimal", "lop"]).default("optimal"),
    pin: z
      .string()
      .transform((s) => s.split(",").map((p) => p.split("=")))
      .pipe(z.array(z.tuple([flag.int("a layer index"), z.enum(SCHEMES)], { error: "expected L=SCHEME, e.g. 18=fuse1" })))
      .optional(),
    json: z.boolean().default(false),
    out: z.string().optional(),
    weights: z.string().optional(),
    shards: z.string().optional(),
    broker: z.string().regex(/^(mqtts?|wss?):\/\/./, "expected mqtt://host:port (or mqtts, ws, wss)").optional(),
    deployment: z.string().regex(ID_PATTERN, "expected 1-64 of [A-Za-z0-9._:-]").default("default"),
    username: z.string().optional(),
  })
  .refine((o) => o.broker !== undefined || o.workers !== undefined, { message: "is required (or --broker, to plan for the workers present)", path: ["workers"] })
  .refine((o) => o.broker === undefined || o.weights !== undefined, { message: "--broker needs --weights: the planner publishes weight shards", path: ["weights"] })
  .refine((o) => o.broker === undefined || [o.workers, o["budget-mb"], o.shards, o.out].every((v) => v === undefined) && !o.json, {
    message: "with --broker the workers and their budgets come from presence; --workers, --budget-mb, --shards, --out and --json are for offline plans",
    path: ["broker"],
  })
  .refine((o) => o.broker !== undefined || (o.weights === undefined) === (o.shards === undefined), { message: "--weights and --shards go together", path: ["shards"] })
  .refine((o) => !(o.pin && o.strategy === "lop"), { message: "--pin chooses schemes for the optimal strategy only", path: ["pin"] });

const options = {
  cfg: { type: "string" },
  workers: { type: "string" },
  "budget-mb": { type: "string" },
  "ftp-end": { type: "string" },
  grid: { type: "string" },
  strategy: { type: "string" },
  pin: { type: "string" },
  json: { type: "boolean" },
  out: { type: "string" },
  weights: { type: "string" },
  shards: { type: "string" },
  broker: { type: "string" },
  deployment: { type: "string" },
  username: { type: "string" },
} as const;

/** A cfg path, or the name of a model shipped with the package (`yolov2`). */
const resolveCfg = (cfg: string) => (existsSync(cfg) || cfg.includes("/") || cfg.endsWith(".cfg") ? cfg : modelCfg(cfg));

type Flags = ReturnType<typeof parseFlags<typeof schema>>;

const planningOf = (o: Flags) => ({
  ftpEnd: o["ftp-end"],
  grid: o.grid && { rows: o.grid[0], cols: o.grid[1] },
  strategy: o.strategy,
  pinned: new Map<number, Scheme>(o.pin ?? []),
});

async function offline(o: Flags, network: Network): Promise<void> {
  const budget = o["budget-mb"] === undefined ? {} : { memoryBudgetBytes: Math.round(o["budget-mb"] * 1e6) };
  let plan = makePlan(network, { ...planningOf(o), devices: o.workers!.map((workerId) => ({ workerId, ...budget })) });
  let shardLine = "";
  if (o.weights && o.shards) {
    const dir = o.shards;
    mkdirSync(dir, { recursive: true });
    const file = openWeights(o.weights, network);
    try {
      const built = await buildShards(plan, network, file, (sha, bytes) => writeFileSync(join(dir, `${sha}.shard`), bytes));
      plan = built.plan;
      shardLine = `wrote ${built.shards.count} shards (${(built.shards.bytes / 1e6).toFixed(1)} MB) to ${dir}`;
    } finally {
      file.close();
    }
  }
  if (o.out) writeFileSync(o.out, `${JSON.stringify(plan, null, 2)}\n`);
  if (o.json) {
    console.log(JSON.stringify(plan, null, 2));
    return;
  }
  const baseline = o.strategy === "optimal" ? evaluateBoundary(network, plan.ftp?.end ?? 0, { grid: plan.ftp?.grid, strategy: "lop", pinned: new Map() }, plan.devices.length).elements : undefined;
  console.log(describePlan(plan, network, baseline));
  if (shardLine) console.log(shardLine);
  if (o.out) console.log(`wrote ${o.out}`);
}

/** The planner actor until SIGINT / SIGTERM. */
async function watch(o: Flags, network: Network): Promise<void> {
  const weights = openWeights(o.weights!, network);
  const client = await connectBroker(o.broker!, { clientId: `planner-${o.deployment}`, username: o.username, password: process.env.EDGEFUSE_MQTT_PASSWORD });
  const log = (line: string) => console.error(`planner: ${line}`);
  const planner = await startPlanner({ client, deployment: o.deployment, network, weights, planning: planningOf(o), log });
  log(`watching ${o.broker} deployment '${o.deployment}' for workers (model ${network.file})`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await planner.stop();
  await client.endAsync();
  weights.close();
}

export const planCommand: Command = {
  usage,
  async run(argv) {
    const o = parseFlags(argv, options, schema, usage);
    const network = loadNetwork(resolveCfg(o.cfg));
    await (o.broker ? watch(o, network) : offline(o, network));
  },
};

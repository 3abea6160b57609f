/**
 * The plan: what the planner publishes (retained) on `…/plan` and what the source and
 * the workers run. Versioned; every reader parses it with `parsePlan`, which checks
 * the shape and the plan's own consistency (layers in order, parts on known workers,
 * FUSE2 right after FUSE1). `checkPlanForNetwork` then checks it against a network.
 *
 * Layers [0, ftp.end) run as FTP tiles; every later layer has one step:
 * - lop / fuse1: each part computes output channels [c0, c1) (finished outputs);
 * - lip / fuse2: each part computes partial sums from input channels [c0, c1);
 *   the source adds them up, then bias and activation (its `biasShard`);
 * - carry: a channel-wise layer (maxpool, avgpool, dropout) each part runs on the
 *   channel slice it already holds from the LOP / FUSE1 step before;
 * - source: run on the whole tensor at the source (route, reorg, region, softmax,
 *   and channel-wise layers after a merge).
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { PlanError } from "../core/errors.js";
import type { Network } from "../dnn/network.js";
import { ID_PATTERN } from "../broker/topics.js";
import { ACTIVATION_DTYPES } from "../core/dtypes.js";
import { WIRE_CHOICES } from "./wire.js";
import {
  closesFusePair,
  LEGACY_STRATEGY_NAMES,
  opensFusePair,
  type Scheme,
  SCHEMES,
  splitsInput,
  STRATEGIES,
} from "./schemes.js";

export const PLAN_FORMAT = "edgefuse-plan";
/** Version 1 throughout: every field added since is optional, so earlier plans still parse. */
export const PLAN_VERSION = 1;
/** FTP boundary: given, or chosen for least largest per-device memory ("auto") or least C ("auto-comm"). */
export const FTP_CHOICES = ["auto", "auto-comm"] as const;

const index = z.number().int().nonnegative();
const count = z.number().int().positive();
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "expected a sha256 in lower-case hex");
const workerId = z.string().regex(ID_PATTERN, "expected 1-64 of [A-Za-z0-9._:-]");

const rectSchema = z
  .object({ y0: index, y1: index, x0: index, x1: index })
  .refine((r) => r.y0 < r.y1 && r.x0 < r.x1, "empty rectangle: need y0 < y1 and x0 < x1");
const padSchema = z.object({ top: index, bottom: index, left: index, right: index });
const shapeSchema = z.object({ c: count, h: count, w: count });

const cutSchema = z
  .object({ kind: z.enum(["output", "input"]), c0: index, c1: index })
  .refine((c) => c.c0 < c.c1, "empty channel range: need c0 < c1");

export const deviceSchema = z.object({
  workerId,
  /** From the worker's presence; absent when planning offline without a budget. */
  memoryBudgetBytes: count.optional(),
  gmacPerSec: z.number().positive().optional(),
  /** Link rates from the device's presence, bits per second; absent: not limited (latency.ts). */
  uplinkBitsPerSec: z.number().positive().optional(),
  downlinkBitsPerSec: z.number().positive().optional(),
  /** The device that holds the input (it takes slot 0). */
  role: z.literal("source").optional(),
});

/** Where the broker is: on the source device (every byte passes the source's link), or on a host of its own. */
export const brokerPlacementSchema = z.union([z.literal("source"), z.object({ bitsPerSec: z.number().positive() })]);
export type BrokerPlacement = z.infer<typeof brokerPlacementSchema>;

/** One stage of the predicted time: scatter, compute, gather, the fixed cost of its messages, and what bounds it. */
const predictedStageSchema = z.object({
  /** First and last layer the stage computes. */
  layers: z.tuple([index, index]),
  scheme: z.enum(["ftp", "lop", "lip", "fuse", "source"]),
  seconds: z.number().nonnegative(),
  scatterSeconds: z.number().nonnegative(),
  computeSeconds: z.number().nonnegative(),
  gatherSeconds: z.number().nonnegative(),
  messageSeconds: z.number().nonnegative(),
  /** Bytes the stage moves: to the devices, and back. */
  scatterBytes: z.number().nonnegative(),
  gatherBytes: z.number().nonnegative(),
  /** "compute on w3", "source uplink", "w2 downlink", … */
  bound: z.string().min(1),
});

const activationDtype = z.enum(ACTIVATION_DTYPES);

/** How the tensors of each distributed stage travel (planner/wire.ts); absent: float32 throughout. */
const wireSchema = z.object({
  /** What was asked for: f32, f16, q8, or auto (the model's choice per phase). */
  choice: z.enum(WIRE_CHOICES),
  stages: z.array(
    z.object({
      /** First and last layer of the stage (the schedule's stage that starts at layers[0]). */
      layers: z.tuple([index, index]),
      /** Each task's input. */
      input: activationDtype,
      /** Each task's output: finished channels, or LIP/FUSE partial sums (added up in float32 at the source). */
      output: activationDtype,
      /** FTP: tile devices get the request's encoded image and cut their own regions (a tensor request's go as `input`). */
      image: z.literal(true).optional(),
    }),
  ),
});

export const predictionSchema = z.object({
  /** What the plan's choices minimised: predicted time ("latency") or the paper's C ("comm"). */
  objective: z.enum(["latency", "comm"]),
  broker: brokerPlacementSchema,
  /** Σ stages plus the source's work before the first (decoding, letterboxing) and after the last (detections). */
  seconds: z.number().nonnegative(),
  prePostSeconds: z.number().nonnegative(),
  stages: z.array(predictedStageSchema),
});
export type Prediction = z.infer<typeof predictionSchema>;

const tileSchema = z.object({
  index,
  workerId,
  /** The tile of layer end−1's output. */
  output: rectSchema,
  /** Per layer, in order: input region, output region, padding at true borders. */
  steps: z.array(z.object({ layer: index, input: rectSchema, output: rectSchema, pad: padSchema })).min(1),
  mults: index,
});

const gridSchema = z.object({ rows: count, cols: count });
const amount = z.number().nonnegative();

const ftpSchema = z.object({
  end: count,
  grid: gridSchema,
  /** One shard with layers [0, end) whole, shared by every tile. */
  shard: sha256.optional(),
  /** Modelled C of the stage: input tiles scattered, output tiles gathered (ftp.ts ftpCost). */
  elements: amount,
  tiles: z.array(tileSchema).min(1),
  /** Weights of layers [0, end): every device with a tile holds them whole. */
  weights: index.optional(),
  /** Per device: its tiles, their traffic (halo overlaps counted), peak feature memory and work. */
  perDevice: z
    .array(
      z.object({
        workerId,
        tiles: z.array(index),
        scatterElements: index,
        gatherElements: index,
        peakElements: index,
        mults: index,
      }),
    )
    .optional(),
});

const partSchema = z.object({ part: index, workerId, cut: cutSchema, shard: sha256.optional() });

const partitionedStep = z.object({
  layer: index,
  scheme: z.enum(SCHEMES),
  /** The previous step was LOP: each part already holds its slice of this input. */
  reuse: z.boolean(),
  /** Modelled communication C_l, elements (paper eqs. 7–9). */
  elements: amount,
  /** F_n for this layer: weights of its largest part (Q_l/N when N divides the channels). */
  weightsPerDevice: index.optional(),
  /** T for this layer: multiplications of its largest part (R_l/N when N divides the channels). */
  multsOnPath: amount.optional(),
  parts: z.array(partSchema).min(1),
  /** lip / fuse2: the biases the source adds after summing the partial outputs. */
  biasShard: sha256.optional(),
});
const carryStep = z.object({
  layer: index,
  scheme: z.literal("carry"),
  parts: z.array(z.object({ part: index, workerId, c0: index, c1: index })).min(1),
});
const sourceStep = z.object({ layer: index, scheme: z.literal("source") });

export const stepSchema = z.discriminatedUnion("scheme", [partitionedStep, carryStep, sourceStep]);

const perDeviceSchema = z.object({
  workerId,
  /** Q: weights this worker holds when every shard of its tasks is cached (paper's F_n). */
  weights: index,
  /** Bytes of its shards (folded weights and biases, float32). */
  shardBytes: index,
  /** Multiplications per inference (FTP halos included). */
  mults: index,
  /** Feature elements held at once: the largest of its FTP tiles' and its layers' (parts.ts partFeatures). */
  featureElements: index.optional(),
});

const planBody = z.object({
  format: z.literal(PLAN_FORMAT),
  version: z.literal(PLAN_VERSION),
  model: z.object({
    name: z.string().min(1),
    fingerprint: sha256,
    input: shapeSchema,
    layers: count,
    /** The darknet cfg text: workers and the source build the network from it. */
    cfg: z.string().min(1),
    /** The weights are edgefuse's seeded synthetic ones (dnn/synthetic.ts marks them): the boxes mean nothing. */
    syntheticWeights: z.boolean().optional(),
  }),
  devices: z.array(deviceSchema).min(1),
  ftp: ftpSchema.nullable(),
  steps: z.array(stepSchema),
  cost: z.object({
    /** Modelled C for the whole inference: FTP stage plus every partitioned layer. */
    elements: z.number().nonnegative(),
    bytes: z.number().nonnegative(),
    perDevice: z.array(perDeviceSchema),
  }),
  warnings: z.array(z.string()),
  /** What was asked for: the plan is a function of these, the network and the devices. */
  inputs: z
    .object({
      /** How the schemes were chosen (schemes.ts STRATEGIES); older plans say "optimal" for "auto". */
      strategy: z.preprocess((s) => (typeof s === "string" ? (LEGACY_STRATEGY_NAMES[s] ?? s) : s), z.enum(STRATEGIES)),
      ftpLayers: z.union([index, z.enum(FTP_CHOICES)]),
      /** The grid asked for; null: chosen with the boundary. */
      grid: gridSchema.nullable(),
      pinned: z.array(z.object({ layer: index, scheme: z.enum(SCHEMES) })),
      bytesPerElement: count,
      /** Absent in older plans: "comm", the broker on the source, the even split. */
      objective: z.enum(["latency", "comm"]).optional(),
      split: z.enum(["auto", "even"]).optional(),
      broker: brokerPlacementSchema.optional(),
    })
    .optional(),
  /** What the choices minimised. */
  objective: z
    .object({
      /** "min-comm": the paper's ILP, least C (eqs. 10–13); "fixed": the strategy sets them. */
      schemes: z.enum(["min-comm", "min-latency", "fixed"]),
      /** "min-largest-memory": DeepThings' criterion; "min-comm": least C; "given": asked for. */
      ftp: z.enum(["min-largest-memory", "min-comm", "min-latency", "given"]),
      /** Weights plus peak feature elements on the fullest device: what "min-largest-memory" minimised. */
      largestMemoryElements: index,
    })
    .optional(),
  /** Predicted time per stage on the devices' speeds and links (latency.ts); absent in older plans. */
  prediction: predictionSchema.optional(),
  wire: wireSchema.optional(),
  /** The modelled totals (paper eqs. 6–10 plus the FTP stage). */
  totals: z
    .object({
      /** C: elements exchanged per inference, and as bytes. */
      commElements: amount,
      commBytes: amount,
      /** F_n: weights held by the fullest device, elements. */
      weightsPerDevice: index,
      /** T: multiplications on the critical path (the busiest device of each stage). */
      multiplications: amount,
      /** Weights plus peak feature elements on the fullest device. */
      memoryPerDevice: index,
      bytesPerElement: count,
      /** Absent in older plans: "comm", the broker on the source, the even split. */
      objective: z.enum(["latency", "comm"]).optional(),
      split: z.enum(["auto", "even"]).optional(),
      broker: brokerPlacementSchema.optional(),
    })
    .optional(),
});

export const planSchema = planBody.extend({ id: z.string().regex(/^[0-9a-f]{16}$/) }).superRefine((plan, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const known = new Set(plan.devices.map((d) => d.workerId));
  if (known.size !== plan.devices.length) issue(["devices"], "duplicate workerId");
  const first = plan.ftp?.end ?? 0;
  if (plan.steps.length !== plan.model.layers - first)
    issue(
      ["steps"],
      `expected ${plan.model.layers - first} steps (layers ${first}..${plan.model.layers - 1}), got ${plan.steps.length}`,
    );
  plan.steps.forEach((step, k) => {
    if (step.layer !== first + k) issue(["steps", k, "layer"], `expected layer ${first + k}, got ${step.layer}`);
    if (step.scheme !== "source") {
      for (const [j, p] of step.parts.entries())
        if (!known.has(p.workerId)) issue(["steps", k, "parts", j, "workerId"], `unknown worker '${p.workerId}'`);
    }
    if (step.scheme !== "source" && step.scheme !== "carry") {
      const kind = splitsInput(step.scheme) ? "input" : "output";
      for (const [j, p] of step.parts.entries())
        if (p.cut.kind !== kind)
          issue(
            ["steps", k, "parts", j, "cut", "kind"],
            `${step.scheme.toUpperCase()} splits ${kind} channels, got an ${p.cut.kind} cut`,
          );
    }
  });
  // FUSE2 must be the next partitioned step after FUSE1 (only carry steps between).
  const partitioned = plan.steps
    .map((s, k) => [s, k] as const)
    .filter((e): e is readonly [PartitionedStep, number] => e[0].scheme !== "carry" && e[0].scheme !== "source");
  partitioned.forEach(([s, k], j) => {
    const prev = partitioned[j - 1];
    const afterFuse1 =
      prev !== undefined &&
      opensFusePair(prev[0].scheme) &&
      plan.steps.slice(prev[1] + 1, k).every((m) => m.scheme === "carry");
    if (closesFusePair(s.scheme) !== afterFuse1)
      issue(
        ["steps", k, "scheme"],
        closesFusePair(s.scheme)
          ? "FUSE2 must follow a FUSE1 step"
          : `layer ${s.layer} follows a FUSE1 step, so it must be FUSE2`,
      );
  });
  const last = partitioned.at(-1)?.[0];
  if (last !== undefined && opensFusePair(last.scheme)) issue(["steps"], "the last partitioned step cannot be FUSE1");
  for (const [j, t] of (plan.ftp?.tiles ?? []).entries())
    if (!known.has(t.workerId)) issue(["ftp", "tiles", j, "workerId"], `unknown worker '${t.workerId}'`);
});

export type Plan = z.infer<typeof planSchema>;
export type PlanBody = z.input<typeof planBody>;
export type PlanStep = Plan["steps"][number];
export type PartitionedStep = Extract<PlanStep, { scheme: Scheme }>;
export type PlanDevice = z.infer<typeof deviceSchema>;

/** First 16 hex digits of the sha256 of the body: the same roster and options give the same id. */
export function planId(body: PlanBody): string {
  const parsed = planBody.parse(body);
  return createHash("sha256").update(JSON.stringify(parsed)).digest("hex").slice(0, 16);
}

/** Adds the id and checks the result, so the planner can never publish a plan its readers refuse. */
export function finishPlan(body: PlanBody): Plan {
  return parsePlan({ ...body, id: planId(body) }, "new plan");
}

/** Parses a plan from anywhere (a file, the wire): a PlanError names the first bad field. */
export function parsePlan(value: unknown, where = "plan"): Plan {
  const result = planSchema.safeParse(value);
  if (result.success) return result.data;
  const first = result.error.issues[0]!;
  const path = first.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
  const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : "";
  throw new PlanError(`${where}: ${path ? `field ${path.replace(/^\./, "")}: ` : ""}${first.message}${more}`);
}

/** Identifies a network by its layers and shapes (not by file name or path). */
export function networkFingerprint(network: Network): string {
  const layers = network.layers.map(({ line: _line, ...rest }) => rest);
  return createHash("sha256")
    .update(JSON.stringify({ input: network.input, layers }))
    .digest("hex");
}

/** Checks that a plan was made for this network and that its channel ranges fit it. */
export function checkPlanForNetwork(plan: Plan, network: Network): void {
  if (plan.model.fingerprint !== networkFingerprint(network)) {
    throw new PlanError(
      `plan ${plan.id} was made for model '${plan.model.name}' (${plan.model.layers} layers), not for ${network.file} (${network.layers.length} layers)`,
    );
  }
  for (const step of plan.steps) {
    if (step.scheme === "source") continue;
    const layer = network.layers[step.layer]!;
    const ranges =
      step.scheme === "carry"
        ? step.parts.map((p) => [p.c0, p.c1] as const)
        : step.parts.map((p) => [p.cut.c0, p.cut.c1] as const);
    const channels = step.scheme !== "carry" && splitsInput(step.scheme) ? layer.input.c : layer.output.c;
    const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
    sorted.forEach(([c0, c1], j) => {
      const expectedStart = j === 0 ? 0 : sorted[j - 1]![1];
      if (c0 !== expectedStart || c1 > channels) {
        throw new PlanError(
          `plan ${plan.id}, layer ${step.layer}: channel ranges must tile [0, ${channels}) without gaps or overlap, got ${JSON.stringify(sorted)}`,
        );
      }
    });
    if (sorted.at(-1)![1] !== channels)
      throw new PlanError(
        `plan ${plan.id}, layer ${step.layer}: channel ranges end at ${sorted.at(-1)![1]}, not ${channels}`,
      );
  }
}

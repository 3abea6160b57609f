/**
 * The schedule: a plan turned into what each actor does, derived the same way by the
 * source and by every worker from the same plan and network, so nothing but the plan
 * has to be agreed on.
 *
 * - A task is one device's share of one stage: the ops it runs (whole layers, channel
 *   cuts, tiles), what arrives on its `…/part/<p>/in` topic, what it publishes on
 *   `…/part/<p>/out`, and whether it keeps its output for the next stage (reuse).
 * - A stage is what the source does: scatter a tensor to the tasks, gather their
 *   outputs, and assemble them (stitch tiles, concatenate channel slices, or sum
 *   partial outputs and add bias and activation), or run a layer itself.
 */
import type { ActivationDtype } from "../../core/dtypes.js";
import { PlanError } from "../../core/errors.js";
import type { Activation, Layer, Shape } from "../../dnn/layers.js";
import type { Network } from "../../dnn/network.js";
import type { Pads } from "../../dnn/ops.js";
import { type Cut, WHOLE } from "../../dnn/slices.js";
import type { Rect } from "../../planner/ftp.js";
import type { PartitionedStep, Plan, PlanStep } from "../../planner/schema.js";
import { closesFusePair, leavesSliceForNext, opensFusePair, splitsInput } from "../../planner/schemes.js";
import { stageWire } from "../../planner/wire.js";

export interface OpSpec {
  readonly layer: number;
  readonly cut: Cut;
  /** Tiles only: padding at the map's true borders. */
  readonly pads?: Pads;
  /** The shard holding this op's weights (weightless layers have none). */
  readonly shard?: string;
}

export type { Rect } from "../../planner/ftp.js";

/** What the source sends a task, cut from the stage's input tensor. */
export type Send =
  | { readonly kind: "all" }
  | { readonly kind: "channels"; readonly c0: number; readonly c1: number }
  /** Reuse: every channel but the ones the device kept from the stage before. */
  | { readonly kind: "allBut"; readonly c0: number; readonly c1: number }
  | { readonly kind: "region"; readonly rect: Rect };

export interface Task {
  /** `<layer>/<part>`: the topic coordinates, unique within a plan. */
  readonly id: string;
  readonly layer: number;
  readonly part: number;
  readonly workerId: string;
  readonly send: Send;
  /** What arrives on the wire. */
  readonly receives: Shape;
  /** What the ops take: `receives` with the kept slice put back in (reuse). */
  readonly input: Shape;
  /** Reuse: the output this device kept from task `<layer>/<part>`, inserted at channels [c0, c1). */
  readonly held?: { readonly task: string; readonly c0: number; readonly c1: number };
  readonly ops: readonly OpSpec[];
  readonly output: Shape;
  /** Keep the output: the next stage reuses it. */
  readonly keep: boolean;
  /** How its input and output travel (the plan's `wire`): the dtype each sender tries first. */
  readonly wire: TaskWire;
}

/** The dtypes of a task's two edges; `image`: an FTP task gets the request's encoded image when the request is one. */
export interface TaskWire {
  readonly input: ActivationDtype;
  readonly output: ActivationDtype;
  readonly image: boolean;
}

/**
 * Whether a task's input can come on its layer's one layerIn message rather than its own
 * partIn: a tensor every part of the stage takes whole, or the request's image to a tile.
 */
export const takesLayerInput = (t: Task): boolean => t.send.kind === "all" || t.wire.image;

export type Assemble =
  | { readonly kind: "stitch"; readonly rects: readonly Rect[] }
  | { readonly kind: "concat"; readonly ranges: readonly (readonly [number, number])[] }
  | { readonly kind: "merge"; readonly layer: number; readonly biasShard: string; readonly activation: Activation };

export type Stage =
  | {
      readonly kind: "distributed";
      /** FTP, LOP, LIP or FUSE. */
      readonly scheme: "ftp" | "lop" | "lip" | "fuse";
      /** First and last layer this stage computes (carried layers included). */
      readonly layers: readonly [number, number];
      readonly input: Shape;
      readonly output: Shape;
      readonly tasks: readonly Task[];
      readonly assemble: Assemble;
    }
  | { readonly kind: "source"; readonly layer: number };

export interface Schedule {
  readonly planId: string;
  readonly stages: readonly Stage[];
  readonly tasks: readonly Task[];
}

const rectShape = (c: number, r: Rect): Shape => ({ c, h: r.y1 - r.y0, w: r.x1 - r.x0 });

export type DistributedStage = Extract<Stage, { kind: "distributed" }>;

/** Looks up a layer the plan names, refusing one the network does not have. */
type LayerOf = (index: number) => Layer;

type Part = PartitionedStep["parts"][number];

/**
 * A partitioned step with the steps that run in the same stage: the channel-wise
 * layers carried right after it and, after FUSE1, its FUSE2.
 */
interface StepGroup {
  readonly step: PartitionedStep;
  readonly carried: readonly number[];
  readonly fuse2?: PartitionedStep;
  /** Index in the plan's steps of the group's last step. */
  readonly last: number;
}

/** What the tasks of one output-splitting stage (LOP, FUSE) share. */
interface OutputSplit {
  readonly plan: Plan;
  readonly group: StepGroup;
  readonly input: Shape;
  /** The stage's whole output: the last layer's. */
  readonly output: Shape;
  /** The previous LOP stage's tasks by part: what each device kept. */
  readonly kept: ReadonlyMap<number, Task> | undefined;
  readonly keep: boolean;
}

export function buildSchedule(plan: Plan, network: Network): Schedule {
  const layerOf = layerLookup(plan, network);
  const stages: Stage[] = plan.ftp ? [wired(plan, ftpStage(plan.ftp, network, layerOf))] : [];
  const steps = plan.steps;
  /** The previous LOP stage's tasks by part: what each device kept. */
  let kept: Map<number, Task> | undefined;
  for (let k = 0; k < steps.length; k++) {
    const step = steps[k]!;
    if (step.scheme === "source") {
      stages.push({ kind: "source", layer: step.layer });
      kept = undefined;
      continue;
    }
    const group = readGroup(plan, step, k);
    k = group.last;
    const stage = wired(plan, partitionedStage(plan, group, kept, layerOf));
    stages.push(stage);
    kept = stage.tasks.some((t) => t.keep) ? new Map(stage.tasks.map((t) => [t.part, t])) : undefined;
  }
  return { planId: plan.id, stages, tasks: stages.flatMap((s) => (s.kind === "distributed" ? s.tasks : [])) };
}

/** A task and its stage as the plan's steps make them, before the plan's `wire` says how they travel. */
type UnwiredTask = Omit<Task, "wire">;
type UnwiredStage = Omit<DistributedStage, "tasks"> & { readonly tasks: readonly UnwiredTask[] };

/** The stage with each task's edges as the plan's `wire` says (float32 when it says nothing). */
function wired(plan: Plan, stage: UnwiredStage): DistributedStage {
  const { input, output, image } = stageWire(plan, stage.layers[0]);
  const wire: TaskWire = { input, output, image: image === true && stage.scheme === "ftp" };
  return { ...stage, tasks: stage.tasks.map((t) => ({ ...t, wire })) };
}

const layerLookup =
  (plan: Plan, network: Network): LayerOf =>
  (i) => {
    const l = network.layers[i];
    if (!l) throw new PlanError(`plan ${plan.id} names layer ${i}; the network has ${network.layers.length}`);
    return l;
  };

/** FTP: each device computes a tile of the first layers' output from a region of the network's input. */
function ftpStage(ftp: NonNullable<Plan["ftp"]>, network: Network, layerOf: LayerOf): UnwiredStage {
  const last = layerOf(ftp.end - 1);
  const tasks = ftp.tiles.map((tile): UnwiredTask => {
    const first = tile.steps[0]!;
    return {
      id: `0/${tile.index}`,
      layer: 0,
      part: tile.index,
      workerId: tile.workerId,
      send: { kind: "region", rect: first.input },
      receives: rectShape(network.input.c, first.input),
      input: rectShape(network.input.c, first.input),
      ops: tile.steps.map((s) => ({
        layer: s.layer,
        cut: WHOLE,
        pads: s.pad,
        ...(layerOf(s.layer).stats.weights > 0 ? { shard: ftp.shard } : {}),
      })),
      output: rectShape(last.output.c, tile.output),
      keep: false,
    };
  });
  return {
    kind: "distributed",
    scheme: "ftp",
    layers: [0, ftp.end - 1],
    input: network.input,
    output: last.output,
    tasks,
    assemble: { kind: "stitch", rects: ftp.tiles.map((t) => t.output) },
  };
}

/** The step at index k with what runs in its stage; refuses a carry or FUSE2 step with nothing before it. */
function readGroup(plan: Plan, step: Exclude<PlanStep, { scheme: "source" }>, k: number): StepGroup {
  if (step.scheme === "carry" || closesFusePair(step.scheme)) {
    throw new PlanError(`plan ${plan.id}: layer ${step.layer} (${step.scheme}) does not follow the step it belongs to`);
  }
  const steps = plan.steps;
  // Channel-wise layers the devices run on their own slices right after this step.
  const carried: number[] = [];
  let last = k;
  while (steps[last + 1]?.scheme === "carry") {
    last++;
    carried.push(steps[last]!.layer);
  }
  if (!opensFusePair(step.scheme)) return { step, carried, last };
  last++;
  const next = steps[last];
  if (next === undefined || next.scheme === "carry" || next.scheme === "source" || !closesFusePair(next.scheme))
    throw new PlanError(`plan ${plan.id}: FUSE1 layer ${step.layer} is not followed by FUSE2`);
  return { step, carried, fuse2: next, last };
}

/** The stage of one step group: a task per part, and how the source assembles their outputs. */
function partitionedStage(
  plan: Plan,
  group: StepGroup,
  kept: ReadonlyMap<number, Task> | undefined,
  layerOf: LayerOf,
): UnwiredStage {
  const { step, fuse2 } = group;
  const layer = layerOf(step.layer);
  const lastLayer = layerOf(fuse2?.layer ?? group.carried.at(-1) ?? step.layer);
  const split: OutputSplit = {
    plan,
    group,
    input: layer.input,
    output: lastLayer.output,
    kept,
    keep: keepsOutputs(plan, group),
  };
  const tasks = step.parts.map((part) =>
    splitsInput(step.scheme) ? inputSliceTask(step, part, layer) : outputSliceTask(split, part),
  );
  return {
    kind: "distributed",
    scheme: opensFusePair(step.scheme) ? "fuse" : (step.scheme as "lop" | "lip"),
    layers: [step.layer, lastLayer.index],
    input: layer.input,
    output: lastLayer.output,
    tasks,
    assemble: assembleFor(plan, group, layerOf),
  };
}

/** Whether a group's devices keep their outputs: a LOP step whose next partitioned step reuses them. */
function keepsOutputs(plan: Plan, group: StepGroup): boolean {
  const next = plan.steps.slice(group.last + 1).find((s) => s.scheme !== "carry");
  return leavesSliceForNext(group.step.scheme) && next !== undefined && "reuse" in next && next.reuse;
}

const taskBase = (step: PartitionedStep, part: Part) => ({
  id: `${step.layer}/${part.part}`,
  layer: step.layer,
  part: part.part,
  workerId: part.workerId,
});

/** LIP: a device gets its slice of the input channels and computes a partial sum of the whole output. */
function inputSliceTask(step: PartitionedStep, part: Part, layer: Layer): UnwiredTask {
  const { c0, c1 } = part.cut;
  const receives = { c: c1 - c0, h: layer.input.h, w: layer.input.w };
  return {
    ...taskBase(step, part),
    send: { kind: "channels", c0, c1 },
    receives,
    input: receives,
    ops: [{ layer: step.layer, cut: part.cut, shard: part.shard }],
    output: layer.output,
    keep: false,
  };
}

/** LOP / FUSE1: every device needs the whole input, less the slice it kept (reuse). */
function outputSliceTask(split: OutputSplit, part: Part): UnwiredTask {
  const { input, kept } = split;
  const { step, carried, fuse2 } = split.group;
  const prev = step.reuse ? kept?.get(part.part) : undefined;
  const held = prev && prev.workerId === part.workerId && prev.output.c < input.c ? heldRange(prev, kept!) : undefined;
  const ops: OpSpec[] = [
    { layer: step.layer, cut: part.cut, shard: part.shard },
    ...carried.map((l) => ({ layer: l, cut: WHOLE })),
  ];
  let output: Shape = { ...split.output, c: part.cut.c1 - part.cut.c0 };
  if (fuse2) {
    ops.push(fuse2Op(split.plan, step, fuse2, part));
    output = split.output;
  }
  return {
    ...taskBase(step, part),
    send: held ? { kind: "allBut", c0: held.c0, c1: held.c1 } : { kind: "all" },
    receives: held ? { ...input, c: input.c - (held.c1 - held.c0) } : input,
    input,
    ...(held ? { held: { task: prev!.id, ...held } } : {}),
    ops,
    output,
    keep: split.keep && !fuse2,
  };
}

/** The FUSE2 op of a FUSE1 part's device, which must keep the part's worker and channels. */
function fuse2Op(plan: Plan, fuse1: PartitionedStep, fuse2: PartitionedStep, part: Part): OpSpec {
  const { c0, c1 } = part.cut;
  const cut = fuse2.parts.find((p) => p.part === part.part);
  if (!cut || cut.workerId !== part.workerId || cut.cut.c0 !== c0 || cut.cut.c1 !== c1) {
    throw new PlanError(
      `plan ${plan.id}: FUSE part ${part.part} of layers ${fuse1.layer}/${fuse2.layer} must keep the same worker and channels`,
    );
  }
  return { layer: fuse2.layer, cut: cut.cut, shard: cut.shard };
}

/** How the source puts the outputs together: merge partial sums (LIP, FUSE) or concatenate channel slices (LOP). */
function assembleFor(plan: Plan, group: StepGroup, layerOf: LayerOf): Assemble {
  const { step, fuse2 } = group;
  const mergeStep = splitsInput(step.scheme) ? step : fuse2;
  if (!mergeStep) return { kind: "concat", ranges: step.parts.map((p) => [p.cut.c0, p.cut.c1] as const) };
  if (!mergeStep.biasShard)
    throw new PlanError(`plan ${plan.id}: layer ${mergeStep.layer} merges partial sums but has no bias shard`);
  const merged = layerOf(mergeStep.layer);
  const activation: Activation =
    merged.kind === "convolutional" || merged.kind === "connected" ? merged.activation : "linear";
  return { kind: "merge", layer: mergeStep.layer, biasShard: mergeStep.biasShard, activation };
}

/** The channels of the next layer's input that a LOP task's output covers: its cut, as the concat assembles it. */
function heldRange(prev: Task, kept: ReadonlyMap<number, Task>): { c0: number; c1: number } {
  const ordered = [...kept.values()].sort((a, b) => a.part - b.part);
  let c0 = 0;
  for (const t of ordered) {
    if (t === prev) return { c0, c1: c0 + t.output.c };
    c0 += t.output.c;
  }
  throw new PlanError(`task ${prev.id} is not among the kept tasks`);
}

/** Tasks one worker runs. */
export const tasksOf = (schedule: Schedule, workerId: string): Task[] =>
  schedule.tasks.filter((t) => t.workerId === workerId);

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
import { PlanError } from "../../core/errors.js";
import type { Activation, Network, Shape } from "../../dnn/network.js";
import type { Pads } from "../../dnn/ops.js";
import { type Cut, WHOLE } from "../../dnn/slices.js";
import type { Rect } from "../../planner/ftp.js";
import type { Plan, PartitionedStep } from "../../planner/schema.js";
import { closesFusePair, leavesSliceForNext, opensFusePair, splitsInput } from "../../planner/schemes.js";

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
}

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

export function buildSchedule(plan: Plan, network: Network): Schedule {
  const stages: Stage[] = [];
  const layerOf = (i: number) => {
    const l = network.layers[i];
    if (!l) throw new PlanError(`plan ${plan.id} names layer ${i}; the network has ${network.layers.length}`);
    return l;
  };

  if (plan.ftp) {
    const { ftp } = plan;
    const last = layerOf(ftp.end - 1);
    const tasks = ftp.tiles.map((tile): Task => {
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
    stages.push({
      kind: "distributed",
      scheme: "ftp",
      layers: [0, ftp.end - 1],
      input: network.input,
      output: last.output,
      tasks,
      assemble: { kind: "stitch", rects: ftp.tiles.map((t) => t.output) },
    });
  }

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
    if (step.scheme === "carry" || closesFusePair(step.scheme)) {
      throw new PlanError(
        `plan ${plan.id}: layer ${step.layer} (${step.scheme}) does not follow the step it belongs to`,
      );
    }
    // Channel-wise layers the devices run on their own slices right after this step.
    const carried: number[] = [];
    while (steps[k + 1]?.scheme === "carry") carried.push(steps[++k]!.layer);
    let fuse2: PartitionedStep | undefined;
    if (opensFusePair(step.scheme)) {
      const next = steps[++k];
      if (next === undefined || next.scheme === "carry" || next.scheme === "source" || !closesFusePair(next.scheme))
        throw new PlanError(`plan ${plan.id}: FUSE1 layer ${step.layer} is not followed by FUSE2`);
      fuse2 = next;
    }
    const layer = layerOf(step.layer);
    const lastLayer = layerOf(fuse2?.layer ?? carried.at(-1) ?? step.layer);
    const input = layer.input;
    const nextPartitioned = steps.slice(k + 1).find((s) => s.scheme !== "carry");
    const keep =
      leavesSliceForNext(step.scheme) &&
      nextPartitioned !== undefined &&
      "reuse" in nextPartitioned &&
      nextPartitioned.reuse;

    const tasks = step.parts.map((part): Task => {
      const { c0, c1 } = part.cut;
      const base = { id: `${step.layer}/${part.part}`, layer: step.layer, part: part.part, workerId: part.workerId };
      if (splitsInput(step.scheme)) {
        const receives = { c: c1 - c0, h: input.h, w: input.w };
        return {
          ...base,
          send: { kind: "channels", c0, c1 },
          receives,
          input: receives,
          ops: [{ layer: step.layer, cut: part.cut, shard: part.shard }],
          output: layer.output,
          keep: false,
        };
      }
      // LOP / FUSE1: every device needs the whole input, less the slice it kept (reuse).
      const prev = step.reuse ? kept?.get(part.part) : undefined;
      const held =
        prev && prev.workerId === part.workerId && prev.output.c < input.c ? heldRange(prev, kept!) : undefined;
      const ops: OpSpec[] = [
        { layer: step.layer, cut: part.cut, shard: part.shard },
        ...carried.map((l) => ({ layer: l, cut: WHOLE })),
      ];
      let output: Shape = { ...lastLayer.output, c: c1 - c0 };
      if (fuse2) {
        const cut = fuse2.parts.find((p) => p.part === part.part);
        if (!cut || cut.workerId !== part.workerId || cut.cut.c0 !== c0 || cut.cut.c1 !== c1) {
          throw new PlanError(
            `plan ${plan.id}: FUSE part ${part.part} of layers ${step.layer}/${fuse2.layer} must keep the same worker and channels`,
          );
        }
        ops.push({ layer: fuse2.layer, cut: cut.cut, shard: cut.shard });
        output = lastLayer.output;
      }
      return {
        ...base,
        send: held ? { kind: "allBut", c0: held.c0, c1: held.c1 } : { kind: "all" },
        receives: held ? { ...input, c: input.c - (held.c1 - held.c0) } : input,
        input,
        ...(held ? { held: { task: prev!.id, ...held } } : {}),
        ops,
        output,
        keep: keep && !fuse2,
      };
    });
    const mergeStep = splitsInput(step.scheme) ? step : fuse2;
    let assemble: Assemble;
    if (mergeStep) {
      if (!mergeStep.biasShard)
        throw new PlanError(`plan ${plan.id}: layer ${mergeStep.layer} merges partial sums but has no bias shard`);
      const merged = layerOf(mergeStep.layer);
      const activation: Activation =
        merged.kind === "convolutional" || merged.kind === "connected" ? merged.activation : "linear";
      assemble = { kind: "merge", layer: mergeStep.layer, biasShard: mergeStep.biasShard, activation };
    } else {
      assemble = { kind: "concat", ranges: step.parts.map((p) => [p.cut.c0, p.cut.c1] as const) };
    }
    stages.push({
      kind: "distributed",
      scheme: opensFusePair(step.scheme) ? "fuse" : (step.scheme as "lop" | "lip"),
      layers: [step.layer, lastLayer.index],
      input,
      output: lastLayer.output,
      tasks,
      assemble,
    });
    kept = tasks.some((t) => t.keep) ? new Map(tasks.map((t) => [t.part, t])) : undefined;
  }
  return { planId: plan.id, stages, tasks: stages.flatMap((s) => (s.kind === "distributed" ? s.tasks : [])) };
}

/** The channels of the next layer's input that a LOP task's output covers: its cut, as the concat assembles it. */
function heldRange(prev: Task, kept: Map<number, Task>): { c0: number; c1: number } {
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

/**
 * Weight shards for a plan: the cut of the folded weights each task needs, as dnn's
 * shard blobs (dnn/shard.ts), content-addressed by sha256.
 *
 * - FTP: one shard with layers [0, end) whole, shared by every tile;
 * - LOP / FUSE1 part: output channels [c0, c1) with their biases;
 * - LIP / FUSE2 part: input channels [c0, c1) of every filter, no biases;
 * - LIP / FUSE2 merge (the source): one entry with the layer's biases and no weights.
 *
 * The weights file is read one layer at a time and each shard handed to `sink` as
 * soon as it is complete, so a 200 MB model never sits in memory twice; cutShard cuts
 * one shard again from its recipe, for the planner to send when a device asks for it.
 */
import { PlanError } from "../core/errors.js";
import { type FoldedParams, foldBatchNorm } from "../dnn/fold.js";
import type { Network } from "../dnn/network.js";
import { encodeShard, shardId, type ShardEntry } from "../dnn/shard.js";
import { type Cut, cutParams, WHOLE } from "../dnn/slices.js";
import type { WeightsSource } from "../dnn/weights.js";
import { checkPlanForNetwork, finishPlan, type Plan } from "./schema.js";
import { splitsInput } from "./schemes.js";

/**
 * How to cut one shard again from the weights file: what the planner keeps of a shard
 * instead of its bytes, to serve it when a device asks (planner/serve-shards.ts).
 */
export type ShardRecipe =
  | { readonly kind: "ftp"; readonly end: number }
  | { readonly kind: "cut"; readonly layer: number; readonly cut: Cut }
  | { readonly kind: "bias"; readonly layer: number };

/** Receives each shard once, with how to cut it again: publish it, write it to a file, keep it. */
export type ShardSink = (sha256: string, bytes: Buffer, recipe: ShardRecipe) => void | Promise<void>;

export interface ShardSummary {
  readonly count: number;
  readonly bytes: number;
}

type Fold = (layer: number) => FoldedParams | undefined;

const folder =
  (weights: WeightsSource): Fold =>
  (layer) => {
    const raw = weights.read(layer);
    return raw && foldBatchNorm(raw);
  };

/** The shard entries `recipe` names, from the folded weights `fold` gives. */
function entriesOf(recipe: ShardRecipe, network: Network, fold: Fold): ShardEntry[] {
  if (recipe.kind === "ftp") {
    return network.layers.slice(0, recipe.end).flatMap((layer) => {
      const params = fold(layer.index);
      return params ? [{ layer: layer.index, cut: WHOLE, params: cutParams(layer, params, WHOLE) }] : [];
    });
  }
  const layer = network.layers[recipe.layer]!;
  const params = fold(recipe.layer);
  if (!params) throw new PlanError(`layer ${recipe.layer} (${layer.kind}) has no weights, but the plan partitions it`);
  if (recipe.kind === "cut")
    return [{ layer: recipe.layer, cut: recipe.cut, params: cutParams(layer, params, recipe.cut) }];
  return [
    {
      layer: recipe.layer,
      cut: { kind: "output", c0: 0, c1: layer.output.c },
      params: { weights: new Float32Array(0), bias: params.bias },
    },
  ];
}

/** One shard's bytes, cut again from the weights (its sha256 is the one buildShards gave it, for the same file). */
export function cutShard(recipe: ShardRecipe, network: Network, weights: WeightsSource): Buffer {
  return encodeShard(entriesOf(recipe, network, folder(weights)));
}

/** Builds every shard `plan` needs and returns the plan with their ids filled in (and so a new id). */
export async function buildShards(
  plan: Plan,
  network: Network,
  weights: WeightsSource,
  sink: ShardSink,
): Promise<{ plan: Plan; shards: ShardSummary }> {
  checkPlanForNetwork(plan, network);
  const seen = new Set<string>();
  let bytes = 0;
  // The parts of one layer are cut from one read of it.
  const read = folder(weights);
  let last: { layer: number; params: FoldedParams | undefined } | undefined;
  const fold: Fold = (layer) => {
    if (last?.layer !== layer) last = { layer, params: read(layer) };
    return last.params;
  };
  const emit = async (recipe: ShardRecipe): Promise<string> => {
    const blob = encodeShard(entriesOf(recipe, network, fold));
    const sha = shardId(blob);
    if (!seen.has(sha)) {
      seen.add(sha);
      bytes += blob.length;
      await sink(sha, blob, recipe);
    }
    return sha;
  };

  const ftp = plan.ftp && { ...plan.ftp, shard: await emit({ kind: "ftp", end: plan.ftp.end }) };
  const steps: Plan["steps"] = [];
  for (const step of plan.steps) {
    if (step.scheme === "source" || step.scheme === "carry") {
      steps.push(step);
      continue;
    }
    const parts = [];
    for (const part of step.parts)
      parts.push({ ...part, shard: await emit({ kind: "cut", layer: step.layer, cut: part.cut }) });
    const biasShard = splitsInput(step.scheme) ? await emit({ kind: "bias", layer: step.layer }) : undefined;
    steps.push({ ...step, parts, ...(biasShard ? { biasShard } : {}) });
  }
  const { id: _oldId, ...body } = plan;
  return { plan: finishPlan({ ...body, ftp, steps }), shards: { count: seen.size, bytes } };
}

/** Every shard id a plan refers to, with who needs it (for publishing and for checks). */
export function shardsOf(plan: Plan): Map<string, string[]> {
  const users = new Map<string, string[]>();
  const use = (sha: string | undefined, who: string) => {
    if (sha) users.set(sha, [...(users.get(sha) ?? []), who]);
  };
  for (const t of plan.ftp?.tiles ?? []) use(plan.ftp?.shard, t.workerId);
  for (const step of plan.steps) {
    if (step.scheme === "source" || step.scheme === "carry") continue;
    for (const p of step.parts) use(p.shard, p.workerId);
    use(step.biasShard, "source");
  }
  return users;
}

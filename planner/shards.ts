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
 * soon as it is complete, so a 200 MB model never sits in memory twice.
 */
import { PlanError } from "../core/errors.js";
import { foldBatchNorm } from "../dnn/fold.js";
import type { Network } from "../dnn/network.js";
import { encodeShard, shardId, type ShardEntry } from "../dnn/shard.js";
import { cutParams, WHOLE } from "../dnn/slices.js";
import type { WeightsSource } from "../dnn/weights.js";
import { checkPlanForNetwork, finishPlan, type Plan } from "./schema.js";
import { splitsInput } from "./schemes.js";

/** Receives each shard once: publish it, write it to a file, keep it. */
export type ShardSink = (sha256: string, bytes: Buffer) => void | Promise<void>;

export interface ShardSummary {
  readonly count: number;
  readonly bytes: number;
}

/** Builds every shard `plan` needs and returns the plan with their ids filled in (and so a new id). */
export async function buildShards(plan: Plan, network: Network, weights: WeightsSource, sink: ShardSink): Promise<{ plan: Plan; shards: ShardSummary }> {
  checkPlanForNetwork(plan, network);
  const seen = new Set<string>();
  let bytes = 0;
  const emit = async (entries: ShardEntry[]): Promise<string> => {
    const blob = encodeShard(entries);
    const sha = shardId(blob);
    if (!seen.has(sha)) {
      seen.add(sha);
      bytes += blob.length;
      await sink(sha, blob);
    }
    return sha;
  };
  const folded = (layer: number) => {
    const raw = weights.read(layer);
    if (!raw) throw new PlanError(`layer ${layer} (${network.layers[layer]!.kind}) has no weights, but the plan partitions it`);
    return foldBatchNorm(raw);
  };

  let ftp = plan.ftp;
  if (ftp) {
    const entries: ShardEntry[] = [];
    for (const layer of network.layers.slice(0, ftp.end)) {
      const raw = weights.read(layer.index);
      if (raw) entries.push({ layer: layer.index, cut: WHOLE, params: cutParams(layer, foldBatchNorm(raw), WHOLE) });
    }
    ftp = { ...ftp, shard: await emit(entries) };
  }

  const steps: Plan["steps"] = [];
  for (const step of plan.steps) {
    if (step.scheme === "source" || step.scheme === "carry") {
      steps.push(step);
      continue;
    }
    const layer = network.layers[step.layer]!;
    const params = folded(step.layer);
    const parts = [];
    for (const part of step.parts) {
      parts.push({ ...part, shard: await emit([{ layer: step.layer, cut: part.cut, params: cutParams(layer, params, part.cut) }]) });
    }
    const biasShard = splitsInput(step.scheme)
      ? await emit([{ layer: step.layer, cut: { kind: "output", c0: 0, c1: layer.output.c }, params: { weights: new Float32Array(0), bias: params.bias } }])
      : undefined;
    steps.push({ ...step, parts, ...(biasShard ? { biasShard } : {}) });
  }
  const { id: _oldId, ...body } = plan;
  return { plan: finishPlan({ ...body, ftp, steps }), shards: { count: seen.size, bytes } };
}

/** Every shard id a plan refers to, with who needs it (for publishing and for checks). */
export function shardsOf(plan: Plan): Map<string, string[]> {
  const users = new Map<string, string[]>();
  const use = (sha: string | undefined, who: string) => sha && users.set(sha, [...(users.get(sha) ?? []), who]);
  plan.ftp?.tiles.forEach((t) => use(plan.ftp!.shard, t.workerId));
  for (const step of plan.steps) {
    if (step.scheme === "source" || step.scheme === "carry") continue;
    step.parts.forEach((p) => use(p.shard, p.workerId));
    use(step.biasShard, "source");
  }
  return users;
}

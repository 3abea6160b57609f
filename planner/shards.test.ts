/**
 * A plan and its shards, executed step by step in this process with each part using
 * only its own shard, reproduce darknet's outputs: FTP tiles, LOP/LIP/FUSE parts,
 * carried channel-wise layers and source layers all mean what the plan says.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diff } from "../test/compare.js";
import { cfgPath, readF32, readOracle } from "../test/fixtures.js";
import { channelSlice, concat, mergePartials, regionLayer, reorg, softmaxLayer } from "../dnn/host.js";
import type { Layer, Shape } from "../dnn/layers.js";
import { loadNetwork, type Network } from "../dnn/network.js";
import { onnxRuntime } from "../dnn/onnx/runtime.js";
import type { CompiledStage } from "../dnn/runtime.js";
import type { ComputeOp } from "../dnn/ops.js";
import { decodeShard, shardId } from "../dnn/shard.js";
import { cutOp, type CutParams, layerOp } from "../dnn/slices.js";
import { openWeights } from "../dnn/weights.js";
import { makePlan } from "./build.js";
import type { Rect } from "./ftp.js";
import { parsePlan, type Plan } from "./schema.js";
import { buildShards, cutShard, type ShardRecipe, shardsOf } from "./shards.js";

const runtime = onnxRuntime();
const stages: CompiledStage[] = [];
afterAll(async () => Promise.all(stages.map((s) => s.release())));

async function run(input: Shape, ops: ComputeOp[], x: Float32Array): Promise<Float32Array> {
  if (ops.length === 0) return x; // dropout only: the identity
  const stage = await runtime.compile({ input, ops });
  stages.push(stage);
  return (await stage.run(x))[0]!;
}

function crop(x: Float32Array, shape: Shape, r: Rect): Float32Array {
  const out: number[] = [];
  for (let c = 0; c < shape.c; c++)
    for (let y = r.y0; y < r.y1; y++)
      out.push(...x.subarray((c * shape.h + y) * shape.w + r.x0, (c * shape.h + y) * shape.w + r.x1));
  return Float32Array.from(out);
}
function paste(into: Float32Array, shape: Shape, r: Rect, tile: Float32Array): void {
  let at = 0;
  for (let c = 0; c < shape.c; c++)
    for (let y = r.y0; y < r.y1; y++)
      for (let x = r.x0; x < r.x1; x++) into[(c * shape.h + y) * shape.w + x] = tile[at++]!;
}
const sliceShape = (s: Shape, c0: number, c1: number): Shape => ({ c: c1 - c0, h: s.h, w: s.w });
const activation = (l: Layer) => (l.kind === "convolutional" || l.kind === "connected" ? l.activation : "linear");

/** Runs a plan the way the source and workers would, each part with nothing but its shard. */
async function execute(
  plan: Plan,
  network: Network,
  shards: Map<string, Buffer>,
  input: Float32Array,
): Promise<Float32Array[]> {
  const shard = (sha: string | undefined) => decodeShard(shards.get(sha!)!, sha);
  const only = (sha: string | undefined): CutParams => shard(sha)[0]!.params;
  const out: Float32Array[] = [];
  const held = new Map<number, Float32Array>(); // part → the channel slice that part holds now
  if (plan.ftp) {
    const { end } = plan.ftp;
    const params = new Map(shard(plan.ftp.shard).map((e) => [e.layer, e.params]));
    const last = network.layers[end - 1]!;
    out[end - 1] = new Float32Array(last.output.c * last.output.h * last.output.w);
    for (const tile of plan.ftp.tiles) {
      const ops = tile.steps
        .filter((s) => network.layers[s.layer]!.kind !== "dropout")
        .map((s) => layerOp(network.layers[s.layer]!, params.get(s.layer) as never, s.pad));
      const region = tile.steps[0]!.input;
      const result = await run(
        { c: network.input.c, h: region.y1 - region.y0, w: region.x1 - region.x0 },
        ops,
        crop(input, network.input, region),
      );
      paste(out[end - 1]!, last.output, tile.output, result);
    }
  }
  let partials: Float32Array[] = [];
  for (const step of plan.steps) {
    const layer = network.layers[step.layer]!;
    const x = step.layer === 0 ? input : out[step.layer - 1]!;
    switch (step.scheme) {
      case "source": {
        if (layer.kind === "route") out[step.layer] = concat(layer.layers.map((i) => out[i]!));
        else if (layer.kind === "reorg") out[step.layer] = reorg(x, layer.input, layer.stride);
        else if (layer.kind === "softmax") out[step.layer] = softmaxLayer(x, layer);
        else if (layer.kind === "region") out[step.layer] = regionLayer(x, layer);
        else out[step.layer] = await run(layer.input, layer.kind === "dropout" ? [] : [layerOp(layer)], x);
        break;
      }
      case "lop":
      case "fuse1": {
        const slices = [];
        for (const p of step.parts) {
          const slice = await run(layer.input, [cutOp(layer, p.cut, only(p.shard))], x);
          held.set(p.part, slice);
          slices.push(slice);
        }
        if (step.scheme === "lop") out[step.layer] = concat(slices);
        break;
      }
      case "carry": {
        const slices = [];
        for (const p of step.parts) {
          const slice = await run(
            sliceShape(layer.input, p.c0, p.c1),
            layer.kind === "dropout" ? [] : [layerOp(layer)],
            held.get(p.part)!,
          );
          held.set(p.part, slice);
          slices.push(slice);
        }
        out[step.layer] = concat(slices); // what a LOP gather assembles; unused after FUSE1
        break;
      }
      case "lip":
      case "fuse2": {
        partials = [];
        for (const p of step.parts) {
          const { c0, c1 } = p.cut;
          // LIP takes its slice of the assembled input; FUSE2 uses the slice its part already holds.
          const mine = step.scheme === "fuse2" ? held.get(p.part)! : channelSlice(x, layer.input, c0, c1);
          partials.push(await run(sliceShape(layer.input, c0, c1), [cutOp(layer, p.cut, only(p.shard))], mine));
        }
        out[step.layer] = mergePartials(partials, only(step.biasShard).bias!, activation(layer));
        break;
      }
    }
  }
  return out;
}

describe.each([
  ["yolov2-mini-s7-dog", 3, "auto"],
  ["yolov2-mini-s7-dog", 4, 0],
  ["fc-mini-s3-dog", 3, 2],
  ["fc-mini-s3-dog", 5, 0],
] as const)("%s on %i workers, FTP end %s", (name, workers, ftpEnd) => {
  const oracle = readOracle(name);
  const network = loadNetwork(cfgPath(oracle.cfg.replace(/\.cfg$/, "")));

  for (const strategy of ["auto", "lop"] as const) {
    it(`${strategy}: executing the plan from its shards gives darknet's outputs`, async () => {
      const draft = makePlan(network, {
        devices: Array.from({ length: workers }, (_, i) => ({ workerId: `w${i}` })),
        ftpEnd,
        strategy,
      });
      const shards = new Map<string, Buffer>();
      const recipes = new Map<string, ShardRecipe>();
      const weights = openWeights(join(oracle.dir, oracle.weights), network);
      const { plan, shards: summary } = await buildShards(draft, network, weights, (sha, bytes, recipe) => {
        shards.set(sha, bytes);
        recipes.set(sha, recipe);
      });
      // Cut again from its recipe, every shard is the same bytes: what the planner sends a device that asks.
      for (const [sha, recipe] of recipes)
        expect(cutShard(recipe, network, weights).equals(shards.get(sha)!), JSON.stringify(recipe)).toBe(true);
      weights.close();

      // The published plan survives the wire and names exactly the shards built.
      expect(parsePlan(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
      expect(new Set(shardsOf(plan).keys())).toEqual(new Set(shards.keys()));
      expect(summary.count).toBe(shards.size);
      for (const [sha, bytes] of shards) expect(shardId(bytes)).toBe(sha);
      expect(plan.id).not.toBe(draft.id);

      const out = await execute(plan, network, shards, readF32(join(oracle.dir, oracle.input_file)));
      for (const l of oracle.layers.filter((l) => l.file && out[l.index])) {
        const d = diff(out[l.index]!, readF32(join(oracle.dir, l.file!)));
        expect(
          d.relative,
          `layer ${l.index} (${plan.steps.find((s) => s.layer === l.index)?.scheme ?? "ftp"}): max |a−b| ${d.maxAbs}`,
        ).toBeLessThanOrEqual(1e-4);
      }
      const last = network.layers.length - 1;
      expect(out[last], "the network's output").toBeDefined();
    });
  }
});

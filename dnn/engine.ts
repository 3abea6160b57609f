/**
 * One device running a whole network: compute layers grouped into onnxruntime
 * stages, the data-moving layers (route, reorg, softmax, region) in TypeScript.
 */
import { InputError } from "../core/errors.js";
import { foldBatchNorm, type FoldedParams } from "./fold.js";
import { runHostLayer } from "./host.js";
import { isIdentity, runsOnHost } from "./layer-traits.js";
import { type Layer, shapeSize, shapeText } from "./layers.js";
import type { Network } from "./network.js";
import { onnxRuntime } from "./onnx/runtime.js";
import type { CompiledStage, Runtime } from "./runtime.js";
import type { ComputeOp } from "./ops.js";
import { layerOp } from "./slices.js";
import type { WeightsSource } from "./weights.js";
import { FLOAT32_BYTES } from "../core/dtypes.js";

export interface EngineOptions {
  readonly runtime: Runtime;
  /**
   * "layer": one onnxruntime session per layer (lowest memory: each layer's weights
   * are handed to onnxruntime and dropped from JS before the next is built);
   * "chain": one session per run of consecutive compute layers (fewer hand-offs).
   */
  readonly grouping: "layer" | "chain";
  /**
   * With "chain": a stage stops growing past this many bytes of weights, so building
   * it never holds more than about twice this in JS at once.
   */
  readonly maxStageWeightBytes: number;
  /** Keep every layer's output (for --dump-layers); otherwise only what later layers need. */
  readonly keepAll: boolean;
}
export const DEFAULT_ENGINE_OPTIONS = {
  runtime: onnxRuntime(),
  grouping: "chain",
  maxStageWeightBytes: 64 << 20,
  keepAll: false,
} satisfies EngineOptions;

const isCompute = (l: Layer) => !runsOnHost(l);

interface Step {
  readonly first: number;
  readonly last: number;
  /** undefined for host layers (computed in TypeScript). */
  readonly stage?: CompiledStage;
  /** Which layer each of the stage's results is the output of (several for a dropout). */
  readonly returns: readonly { readonly layer: number; readonly result: number }[];
}

export interface ForwardResult {
  /** Output of each layer kept (all with keepAll, else those needed later and the last). */
  readonly layers: readonly (Float32Array | undefined)[];
  readonly output: Float32Array;
  readonly ms: number;
}

export interface Engine {
  readonly network: Network;
  forward(input: Float32Array): Promise<ForwardResult>;
  release(): Promise<void>;
}

/** For each layer, the last layer that reads its output. */
function lastUses(network: Network): number[] {
  const last = network.layers.map((l) => l.index);
  for (const l of network.layers) {
    const reads = l.kind === "route" ? l.layers : l.index > 0 ? [l.index - 1] : [];
    for (const r of reads) last[r] = Math.max(last[r]!, l.index);
  }
  return last;
}

/** Splits the layers into steps: runs of compute layers (one per layer with "layer") and single host layers. */
function plan(network: Network, opts: EngineOptions): { first: number; last: number }[] {
  const steps: { first: number; last: number; bytes: number }[] = [];
  for (const l of network.layers) {
    const prev = steps.at(-1);
    const bytes = FLOAT32_BYTES * l.stats.params;
    const joins =
      opts.grouping === "chain" &&
      prev &&
      isCompute(l) &&
      isCompute(network.layers[prev.last]!) &&
      prev.bytes + bytes <= opts.maxStageWeightBytes;
    if (joins) steps[steps.length - 1] = { first: prev.first, last: l.index, bytes: prev.bytes + bytes };
    else steps.push({ first: l.index, last: l.index, bytes });
  }
  return steps;
}

export async function createEngine(
  network: Network,
  weights: WeightsSource,
  options: Partial<EngineOptions> = {},
): Promise<Engine> {
  const opts = { ...DEFAULT_ENGINE_OPTIONS, ...options };
  const uses = lastUses(network);
  const lastIndex = network.layers.length - 1;
  const steps: Step[] = [];
  for (const { first, last } of plan(network, opts)) {
    const layers = network.layers.slice(first, last + 1);
    if (!isCompute(layers[0]!)) {
      steps.push({ first, last, returns: [] });
      continue;
    }
    // dropout is the identity at inference: it gets no op, its output is its input's.
    const opLayers = layers.filter((l) => !isIdentity(l));
    const returns = layers
      .filter((l) => opts.keepAll || l.index === last || uses[l.index]! > last || l.index === lastIndex)
      .map((l) => l.index);
    let stage: CompiledStage | undefined;
    const wanted: { layer: number; result: number }[] = [];
    if (opLayers.length > 0) {
      const ops: ComputeOp[] = opLayers.map((l) => {
        const raw = weights.read(l.index);
        const params: FoldedParams | undefined = raw ? foldBatchNorm(raw) : undefined;
        return layerOp(l, params);
      });
      // The op producing each returned layer's output (a dropout returns its predecessor's).
      const exposed: number[] = [];
      for (const layer of returns) {
        const op = opLayers.findLastIndex((l) => l.index <= layer);
        if (op < 0) continue; // a leading dropout: its output is the stage input
        if (!exposed.includes(op)) exposed.push(op);
        wanted.push({ layer, result: exposed.indexOf(op) });
      }
      stage = await opts.runtime.compile({ input: layers[0]!.input, ops }, exposed);
    }
    steps.push({ first, last, stage, returns: wanted });
  }

  return {
    network,
    async forward(input) {
      if (input.length !== shapeSize(network.input)) {
        throw new InputError(
          "input",
          `expected ${shapeText(network.input)} = ${shapeSize(network.input)} floats, got ${input.length}`,
        );
      }
      const started = performance.now();
      const outputs: (Float32Array | undefined)[] = new Array(network.layers.length);
      let current = input;
      for (const step of steps) {
        const layer = network.layers[step.first]!;
        if (!isCompute(layer)) {
          current = outputs[step.first] = runHostLayer(layer, outputs, current);
        } else {
          const results = step.stage ? await step.stage.run(current) : [];
          for (let i = step.first; i <= step.last && isIdentity(network.layers[i]!); i++) outputs[i] = current;
          for (const r of step.returns) outputs[r.layer] = results[r.result];
          current = outputs[step.last]!;
        }
        // Free what no later layer reads (unless every output is kept).
        if (!opts.keepAll)
          for (let i = 0; i < step.first; i++) if (uses[i]! <= step.last && i !== lastIndex) outputs[i] = undefined;
      }
      return { layers: outputs, output: outputs[lastIndex]!, ms: performance.now() - started };
    },
    async release() {
      await Promise.all(steps.map((s) => s.stage?.release()));
    },
  };
}

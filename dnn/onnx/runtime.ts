/**
 * The compute runtime on onnxruntime-node: compile a Stage once, run it many times.
 * One intra-op thread by default: a device process is one core's worth of work.
 */
import * as ort from "onnxruntime-node";
import { ShapeError } from "../../core/errors.js";
import { type Shape, shapeSize, shapeText } from "../network.js";
import { type Stage, stageShapes } from "../ops.js";
import { INPUT_NAME, outputName, stageToOnnx } from "./model.js";

export interface RuntimeOptions {
  /** onnxruntime intra-op threads. */
  readonly threads: number;
  /**
   * Sessions holding more weights than this are built without onnxruntime's NCHWc
   * layout transform (graph optimisation "extended" instead of "all"). The transform
   * is fastest for whole layers with wide maps (YOLOv2's 1280→1024 conv: 77 vs 91 ms),
   * but building such a session briefly needs about four times its weights (a 7.9 MB
   * slice peaks at +30 MB instead of +8 MB). Devices, which must stay within a memory
   * budget, transform only small sessions — the early, feature-heavy layers, where the
   * transform pays most.
   */
  readonly layoutTransformMaxWeightBytes: number;
}
export const DEFAULT_RUNTIME_OPTIONS = { threads: 1, layoutTransformMaxWeightBytes: Infinity } satisfies RuntimeOptions;
/** What a device process (worker, or the source's own part) runs with. */
export const DEVICE_RUNTIME_OPTIONS = { threads: 1, layoutTransformMaxWeightBytes: 4 << 20 } satisfies RuntimeOptions;

export interface CompiledStage {
  readonly input: Shape;
  /** Output shapes, in the order `run` returns them. */
  readonly outputs: readonly Shape[];
  run(input: Float32Array): Promise<Float32Array[]>;
  release(): Promise<void>;
}

export interface Runtime {
  /** `exposed`: op indices whose outputs to return (default: the last op). */
  compile(stage: Stage, exposed?: readonly number[]): Promise<CompiledStage>;
}

export function onnxRuntime(options: Partial<RuntimeOptions> = {}): Runtime {
  const opts = { ...DEFAULT_RUNTIME_OPTIONS, ...options };
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    // Without an arena each session returns its activation buffers after a run;
    // with one, every session of a network would keep its peak activations.
    enableCpuMemArena: false,
  };
  return {
    async compile(stage, exposed = [stage.ops.length - 1]) {
      const shapes = stageShapes(stage);
      const outputs = exposed.map((i) => shapes[i]!);
      const weightBytes = stage.ops.reduce((a, op) => a + ("weights" in op ? op.weights.byteLength : 0), 0);
      const graphOptimizationLevel = weightBytes <= opts.layoutTransformMaxWeightBytes ? "all" : "extended";
      const session = await ort.InferenceSession.create(stageToOnnx(stage, exposed), { ...sessionOptions, graphOptimizationLevel });
      // Only the shape is kept: holding `stage` would keep its weights alive in JS
      // after onnxruntime has copied them.
      const input = stage.input;
      const dims = [1, input.c, input.h, input.w];
      return {
        input,
        outputs,
        async run(x) {
          if (x.length !== shapeSize(input)) {
            throw new ShapeError(`stage input: expected ${shapeText(input)} = ${shapeSize(input)} floats, got ${x.length}`);
          }
          const result = await session.run({ [INPUT_NAME]: new ort.Tensor("float32", x, dims) });
          return exposed.map((i) => result[outputName(i)]!.data as Float32Array);
        },
        release: () => session.release(),
      };
    },
  };
}

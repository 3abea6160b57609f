/**
 * The compute runtime seam: compile a Stage (ops.ts) once, run it many times.
 * onnxruntime-node implements it (onnx/runtime.ts); any other backend (a wasm build,
 * a GPU) plugs in here and must pass the same contract suite (runtime.contract.ts).
 */
import type { Shape } from "./layers.js";
import type { Stage } from "./ops.js";

export interface CompiledStage {
  readonly input: Shape;
  /** Output shapes, in the order `run` returns them. */
  readonly outputs: readonly Shape[];
  /** Throws ShapeError when `input` is not the stage's input size. */
  run(input: Float32Array): Promise<Float32Array[]>;
  release(): Promise<void>;
}

export interface Runtime {
  /** `exposed`: op indices whose outputs to return (default: the last op). */
  compile(stage: Stage, exposed?: readonly number[]): Promise<CompiledStage>;
}

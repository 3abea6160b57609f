/**
 * The compute runtime (../runtime.ts) on onnxruntime-node: compile a Stage once, run it many times.
 * One intra-op thread by default: a device process is one core's worth of work.
 */
import * as ort from "onnxruntime-node";
import { ShapeError } from "../../core/errors.js";
import { shapeSize, shapeText } from "../layers.js";
import type { Runtime } from "../runtime.js";
import { type Stage, stageShapes } from "../ops.js";
import { INPUT_NAME, outputName, stageToOnnx } from "./model.js";

/** The seam's types, for the modules that import them from here. */
export type { CompiledStage, Runtime } from "../runtime.js";

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
   * transform pays most — and only whole-channel ones (layoutTransformWholeBlocksOnly).
   */
  readonly layoutTransformMaxWeightBytes: number;
  /**
   * Also build without the layout transform any session with a conv whose output
   * channels are not a whole number of NCHWc blocks (NCHWC_BLOCK). The transform pads
   * such a conv's output up to the next block and reorders the session's maps in and
   * out, so a device's thin channel slice (LOP and FUSE cut a layer into about C/N
   * channels) computes and holds mostly padding. YOLOv2 at N = 6, a worker's layer-0
   * slice (3→6 channels at 608×608, padded to 16): 26 ms and +33 MB of transient memory
   * per run with the transform, 12 ms and +11 MB without — the run's peak memory of the
   * whole worker; over all 15 of its LOP/FUSE tasks 194 vs 168 ms. (With bin/edgefuse's
   * malloc settings a run's transient buffers are fresh pages every time, so what it
   * holds also costs time.) Whole-channel sessions — FTP tiles, whole layers — keep the
   * transform: a tile chains its convs in the blocked layout, 5–8 % faster, same peak.
   */
  readonly layoutTransformWholeBlocksOnly: boolean;
}
/**
 * Output channels per NCHWc block: onnxruntime's MLAS blocks by 16 with AVX-512 and
 * by 8 with AVX2, so a multiple of 16 is whole on both.
 */
const NCHWC_BLOCK = 16;
export const DEFAULT_RUNTIME_OPTIONS = {
  threads: 1,
  layoutTransformMaxWeightBytes: Infinity,
  layoutTransformWholeBlocksOnly: false,
} satisfies RuntimeOptions;
/** What a device process (worker, or the source's own part) runs with. */
export const DEVICE_RUNTIME_OPTIONS = {
  threads: 1,
  layoutTransformMaxWeightBytes: 4 << 20,
  layoutTransformWholeBlocksOnly: true,
} satisfies RuntimeOptions;

/** Does the NCHWc layout transform pay for this stage under these options (see RuntimeOptions)? */
export function layoutTransformPays(stage: Stage, opts: RuntimeOptions): boolean {
  const weightBytes = stage.ops.reduce((a, op) => a + ("weights" in op ? op.weights.byteLength : 0), 0);
  if (weightBytes > opts.layoutTransformMaxWeightBytes) return false;
  return (
    !opts.layoutTransformWholeBlocksOnly || stage.ops.every((op) => op.kind !== "conv" || op.outC % NCHWC_BLOCK === 0)
  );
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
      const graphOptimizationLevel = layoutTransformPays(stage, opts) ? "all" : "extended";
      const session = await ort.InferenceSession.create(stageToOnnx(stage, exposed), {
        ...sessionOptions,
        graphOptimizationLevel,
      });
      // Only the shape is kept: holding `stage` would keep its weights alive in JS
      // after onnxruntime has copied them.
      const input = stage.input;
      const dims = [1, input.c, input.h, input.w];
      return {
        input,
        outputs,
        async run(x) {
          if (x.length !== shapeSize(input)) {
            throw new ShapeError(
              `stage input: expected ${shapeText(input)} = ${shapeSize(input)} floats, got ${x.length}`,
            );
          }
          const result = await session.run({ [INPUT_NAME]: new ort.Tensor("float32", x, dims) });
          return exposed.map((i) => result[outputName(i)]!.data as Float32Array);
        },
        release: () => session.release(),
      };
    },
  };
}

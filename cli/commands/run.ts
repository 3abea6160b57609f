import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { UsageError } from "../../core/errors.js";
import { writeAnnotated } from "../../dnn/image/annotate.js";
import { loadImage } from "../../dnn/image/decode.js";
import type { FloatImage } from "../../dnn/image/image.js";
import { FIT_MODES, networkInput } from "../../dnn/image/letterbox.js";
import { REGION_DEFAULTS } from "../../dnn/detect/region.js";
import { interpret, type Interpretation } from "../../dnn/interpret.js";
import { loadModel } from "../../dnn/model.js";
import { syntheticNote } from "../../dnn/synthetic.js";
import { readTensorFile, writeTensorFile } from "../../dnn/tensor-file.js";
import { isSyntheticWeights } from "../../dnn/weights.js";
import { defineCommand, flag, type FlagRule } from "../command.js";
import { defineFlags, type FlagValues } from "../flags.js";

const flags = defineFlags({
  cfg: { value: "FILE", description: "the darknet cfg", required: true },
  weights: { value: "FILE", description: "its darknet weights", required: true },
  image: {
    value: "FILE",
    description: "a JPEG or PNG, letterboxed to the network's input as darknet does (or --input)",
  },
  input: { value: "FILE.f32", description: "a raw float32 C×H×W tensor of the network's input size (or --image)" },
  thresh: {
    value: "P",
    description: "detection threshold",
    schema: flag.probability(),
    default: String(REGION_DEFAULTS.thresh),
  },
  names: {
    value: "FILE",
    description: "class names, one a line",
    defaultText: "the cfg's name with .names beside it, else coco.names or voc.names by class count",
  },
  json: { description: "print { detections, timings } as JSON" },
  annotate: { value: "OUT", description: "with --image: draw the detections into this PNG/JPEG" },
  "dump-layers": { value: "DIR", description: "write every layer's output as layerNN.f32 in darknet's memory order" },
  threads: {
    value: "N",
    description: "onnxruntime threads",
    schema: flag.int("a thread count").refine((n) => n >= 1, "must be ≥ 1"),
    default: "1",
  },
  fit: {
    value: FIT_MODES.join("|"),
    description: "how the image is fitted to the network's input",
    schema: z.enum(FIT_MODES),
    default: REGION_DEFAULTS.fit,
  },
});

const rules: FlagRule<FlagValues<typeof flags>>[] = [
  {
    flag: "image",
    message: "give exactly one of --image or --input",
    holds: (o) => (o.image === undefined) !== (o.input === undefined),
  },
  { flag: "annotate", message: "--annotate needs --image", holds: (o) => !(o.annotate && !o.image) },
];

function describe(result: Interpretation): string[] {
  if (result.kind === "classes")
    return result.detections.map((c) => `${c.className}: ${(100 * c.probability).toFixed(2)}%`);
  if (result.detections.length === 0) return ["no detections above the threshold"];
  return result.detections.map(
    (d) =>
      `${d.className}: ${Math.round(100 * d.probability)}%  (${d.box.left},${d.box.top})–(${d.box.right},${d.box.bottom})`,
  );
}

export const runCommand = defineCommand({
  name: "run",
  flags,
  rules,
  async run(o) {
    const started = performance.now();
    const dump = o["dump-layers"];
    const { network, engine } = await loadModel(o.cfg, o.weights, { threads: o.threads, keepAll: dump !== undefined });
    const loadMs = performance.now() - started;
    try {
      const synthetic = isSyntheticWeights(o.weights); // edgefuse generated them: say that the output means nothing
      let image: FloatImage | undefined;
      let input: Float32Array;
      if (o.image) {
        image = loadImage(o.image);
        input = networkInput(image, network.input, o.fit);
      } else {
        input = readTensorFile(o.input!, network.input);
      }
      const forward = await engine.forward(input);
      const result = interpret(network, forward.output, image && { w: image.w, h: image.h }, {
        thresh: o.thresh,
        namesFile: o.names ?? namesBeside(o.cfg),
        fit: o.fit,
      });
      if (dump) {
        mkdirSync(dump, { recursive: true });
        for (const [i, out] of forward.layers.entries()) {
          if (out) writeTensorFile(join(dump, `layer${String(i).padStart(2, "0")}.f32`), out);
        }
      }
      if (o.annotate) {
        if (result.kind !== "detections") throw new UsageError("--annotate draws boxes; this network is a classifier");
        mkdirSync(dirname(o.annotate), { recursive: true });
        writeAnnotated(o.annotate, image!, result.detections, { classes: result.classes, synthetic });
      }
      const timings = {
        loadMs: round(loadMs),
        forwardMs: round(forward.ms),
        totalMs: round(performance.now() - started),
        peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      };
      if (o.json) {
        console.log(
          JSON.stringify(
            { model: o.cfg, kind: result.kind, synthetic, detections: result.detections, timings },
            null,
            2,
          ),
        );
      } else {
        if (synthetic) console.error(syntheticNote(result.kind === "detections" ? "boxes" : "classes"));
        for (const line of describe(result)) console.log(line);
        console.error(
          `${network.layers.length} layers, ${(network.totalMults / 1e9).toFixed(2)} G multiplications: load ${timings.loadMs} ms, forward ${timings.forwardMs} ms`,
        );
        if (o.annotate) console.error(`annotated image written to ${o.annotate}`);
      }
    } finally {
      await engine.release();
    }
  },
});

/** models/fashion/fashion.cfg → models/fashion/fashion.names, if there is one. */
function namesBeside(cfg: string): string | undefined {
  const names = cfg.replace(/\.cfg$/, ".names");
  return names !== cfg && existsSync(names) ? names : undefined;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

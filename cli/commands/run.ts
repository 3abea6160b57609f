import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { UsageError } from "../../core/errors.js";
import { writeAnnotated } from "../../dnn/image/annotate.js";
import { loadImage } from "../../dnn/image/decode.js";
import type { FloatImage } from "../../dnn/image/image.js";
import { FIT_MODES, networkInput } from "../../dnn/image/letterbox.js";
import { interpret, type Interpretation } from "../../dnn/interpret.js";
import { loadModel } from "../../dnn/model.js";
import { readTensorFile, writeTensorFile } from "../../dnn/tensor-file.js";
import { type Command, flag, parseFlags } from "../command.js";

const usage =
  "edgefuse run --cfg FILE --weights FILE (--image FILE | --input FILE.f32) [--thresh P] [--names FILE] [--json] [--annotate OUT.png|jpg] [--dump-layers DIR] [--threads N] [--fit letterbox|resize]";

const schema = z
  .object({
    cfg: z.string(),
    weights: z.string(),
    image: z.string().optional(),
    input: z.string().optional(),
    thresh: flag.probability().default(0.24),
    names: z.string().optional(),
    json: z.boolean().default(false),
    annotate: z.string().optional(),
    "dump-layers": z.string().optional(),
    threads: flag.int("a thread count").refine((n) => n >= 1, "must be ≥ 1").default(1),
    fit: z.enum(FIT_MODES).default("letterbox"),
  })
  .refine((o) => (o.image === undefined) !== (o.input === undefined), { message: "give exactly one of --image or --input", path: ["image"] })
  .refine((o) => !(o.annotate && !o.image), { message: "--annotate needs --image", path: ["annotate"] });

const options = {
  cfg: { type: "string" },
  weights: { type: "string" },
  image: { type: "string" },
  input: { type: "string" },
  thresh: { type: "string" },
  names: { type: "string" },
  json: { type: "boolean" },
  annotate: { type: "string" },
  "dump-layers": { type: "string" },
  threads: { type: "string" },
  fit: { type: "string" },
} as const;

function describe(result: Interpretation): string[] {
  if (result.kind === "classes") return result.detections.map((c) => `${c.className}: ${(100 * c.probability).toFixed(2)}%`);
  if (result.detections.length === 0) return ["no detections above the threshold"];
  return result.detections.map((d) => `${d.className}: ${Math.round(100 * d.probability)}%  (${d.box.left},${d.box.top})–(${d.box.right},${d.box.bottom})`);
}

export const runCommand: Command = {
  usage,
  async run(argv) {
    const o = parseFlags(argv, options, schema, usage);
    const started = performance.now();
    const dump = o["dump-layers"];
    const { network, engine } = await loadModel(o.cfg, o.weights, { threads: o.threads, keepAll: dump !== undefined });
    const loadMs = performance.now() - started;
    try {
      let image: FloatImage | undefined;
      let input: Float32Array;
      if (o.image) {
        image = loadImage(o.image);
        input = networkInput(image, network.input, o.fit);
      } else {
        input = readTensorFile(o.input!, network.input);
      }
      const forward = await engine.forward(input);
      const result = interpret(network, forward.output, image && { w: image.w, h: image.h }, { thresh: o.thresh, namesFile: o.names, fit: o.fit });
      if (dump) {
        mkdirSync(dump, { recursive: true });
        forward.layers.forEach((out, i) => out && writeTensorFile(join(dump, `layer${String(i).padStart(2, "0")}.f32`), out));
      }
      if (o.annotate) {
        if (result.kind !== "detections") throw new UsageError("--annotate draws boxes; this network is a classifier");
        mkdirSync(dirname(o.annotate), { recursive: true });
        writeAnnotated(o.annotate, image!, result.detections, { classes: result.classes });
      }
      const timings = { loadMs: round(loadMs), forwardMs: round(forward.ms), totalMs: round(performance.now() - started), peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024) };
      if (o.json) {
        console.log(JSON.stringify({ model: o.cfg, kind: result.kind, detections: result.detections, timings }, null, 2));
      } else {
        for (const line of describe(result)) console.log(line);
        console.error(`${network.layers.length} layers, ${(network.totalMults / 1e9).toFixed(2)} G multiplications: load ${timings.loadMs} ms, forward ${timings.forwardMs} ms`);
        if (o.annotate) console.error(`annotated image written to ${o.annotate}`);
      }
    } finally {
      await engine.release();
    }
  },
};

const round = (ms: number) => Math.round(ms * 10) / 10;

import { z } from "zod";
import { CACHE_DIR, modelCfg, sampleImage } from "../../../core/paths.js";
import { loadNetwork } from "../../../dnn/network.js";
import { cachedSyntheticWeights } from "../../../dnn/synthetic.js";
import { type Command, parseFlags } from "../command.js";
import { runCommand } from "./run.js";

const usage = "edgefuse demo [--image FILE] [--annotate OUT.png]";
const schema = z.object({ image: z.string().default(sampleImage("dog.jpg")), annotate: z.string().default("out/dog-annotated.png") });

/** YOLOv2 608 with seeded synthetic weights on a sample image: needs nothing but the package. */
export const demoCommand: Command = {
  usage,
  async run(argv) {
    const o = parseFlags(argv, { image: { type: "string" }, annotate: { type: "string" } }, schema, usage);
    const cfg = modelCfg("yolov2");
    const started = performance.now();
    const weights = cachedSyntheticWeights(loadNetwork(cfg), 1, CACHE_DIR);
    if (weights.created) console.error(`generated synthetic YOLOv2 weights once (${Math.round(performance.now() - started)} ms): ${weights.path}`);
    console.error("YOLOv2 608 with seeded synthetic weights: the boxes are real output of the network, not meaningful objects.");
    return runCommand.run(["--cfg", cfg, "--weights", weights.path, "--image", o.image, "--annotate", o.annotate]);
  },
};

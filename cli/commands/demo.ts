import { z } from "zod";
import { sampleImage } from "../../core/paths.js";
import { type Command, flag, parseFlags } from "../command.js";
import { upCommand } from "./up.js";

const usage = "edgefuse demo [--devices N] [--image FILE] [--annotate OUT.png]";
const schema = z.object({
  devices: flag.int("a device count").default(3),
  image: z.string().default(sampleImage("dog.jpg")),
  annotate: z.string().default("out/dog-annotated.png"),
});

/**
 * The main job on the embedded default, needing nothing but the package: YOLOv2 608
 * with seeded synthetic weights split across N devices on this machine (broker,
 * planner, source and N−1 worker processes), one image through them, the detections
 * printed and drawn, everything stopped.
 */
export const demoCommand: Command = {
  usage,
  async run(argv) {
    const o = parseFlags(argv, { devices: { type: "string" }, image: { type: "string" }, annotate: { type: "string" } }, schema, usage);
    console.error("YOLOv2 608 with seeded synthetic weights: the boxes are real output of the network, not meaningful objects.");
    return upCommand.run(["--devices", String(o.devices), "--port", "0", "--infer", o.image, "--annotate", o.annotate]);
  },
};

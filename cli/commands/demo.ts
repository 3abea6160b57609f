import { z } from "zod";
import { sampleImage } from "../../core/paths.js";
import { SYNTHETIC_NOTE } from "../../dnn/synthetic.js";
import { defineCommand } from "../command.js";
import { defineFlags } from "../flags.js";
import { deviceFlags, refuseTakenPort, runUp, upCommand } from "./up.js";

const flags = defineFlags({
  model: {
    value: "yolov2|fashion",
    description:
      "yolov2: YOLOv2 608 with synthetic weights, one image; fashion: the Fashion-MNIST classifier darknet trained, 8 test images beside their labels",
    schema: z.enum(["yolov2", "fashion"]),
    default: "yolov2",
  },
  ...deviceFlags,
  // Any free port by default: a demo must not fail because something already has 1883.
  port: { ...deviceFlags.port, default: "0" },
  image: { value: "FILE", description: "the image to send through the devices", default: sampleImage("dog.jpg") },
  annotate: {
    value: "OUT",
    description: "where to draw the detections (PNG or JPEG)",
    default: "out/dog-annotated.png",
  },
});

/**
 * The main job on the embedded default, needing nothing but the package: YOLOv2 608
 * with seeded synthetic weights split across N devices on this machine (broker,
 * planner, source and N−1 worker processes), one image through them, the detections
 * printed and drawn, everything stopped.
 */
export const demoCommand = defineCommand({
  name: "demo",
  flags,
  async run(o) {
    if (o.model === "fashion")
      return (await import("../fashion-demo.js")).runFashionDemo({ devices: o.devices, images: 8 });
    await refuseTakenPort(o);
    console.error(`YOLOv2 608 with seeded ${SYNTHETIC_NOTE}; they are what the network computes, not objects.`);
    // Everything else as `up` has it by default.
    return runUp("demo", {
      ...upCommand.parse([]),
      devices: o.devices,
      host: o.host,
      port: o.port,
      ...(o.auth !== undefined && { auth: o.auth }),
      insecure: o.insecure,
      infer: o.image,
      annotate: o.annotate,
    });
  },
});

/** The registry: one line per subcommand; each module loads only when its command runs. */
import type { CommandEntry } from "../command.js";

export const commands: readonly CommandEntry[] = [
  { name: "demo", summary: "detect objects in a sample image with YOLOv2 and seeded synthetic weights (no download)", load: async () => (await import("./demo.js")).demoCommand },
  { name: "run", summary: "run a darknet network on this device for one image or tensor", load: async () => (await import("./run.js")).runCommand },
  { name: "weights", summary: "write seeded synthetic weights for a cfg, in darknet's .weights format", load: async () => (await import("./weights.js")).weightsCommand },
  { name: "broker", summary: "run the embedded MQTT broker until Ctrl-C, then print the bytes each client moved", load: async () => (await import("./broker.js")).brokerCommand },
  { name: "lab-net", summary: "build a namespace lab, measure each device link's rate both ways, tear it down", load: async () => (await import("./lab-net.js")).labNet },
  { name: "plan", summary: "plan partitioning for a model and N workers (FTP + LOP/LIP/FUSE via the paper's ILP); print, write plan and shards", load: async () => (await import("./plan.js")).planCommand },
];

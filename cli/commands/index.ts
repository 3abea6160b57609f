/** The registry: one line per subcommand; each module loads only when its command runs. */
import type { CommandEntry } from "../command.js";

export const commands: readonly CommandEntry[] = [
  {
    name: "up",
    summary:
      "start the broker, the planner and N devices (the source and N−1 workers) on this machine (the embedded default)",
    load: async () => (await import("./up.js")).upCommand,
  },
  {
    name: "view",
    summary: "serve a live view of a deployment in the browser: devices, plan, traffic and every request's timeline",
    load: async () => (await import("./view.js")).viewCommand,
  },
  {
    name: "infer",
    summary: "send an image to a running deployment and print its detections",
    load: async () => (await import("./infer.js")).inferCommand,
  },
  {
    name: "camera",
    summary: "send images at a rate, as a camera does, and report throughput, latency and drops",
    load: async () => (await import("./camera.js")).cameraCommand,
  },
  {
    name: "worker",
    summary: "run a worker device: it computes whatever the plan routes to it",
    load: async () => (await import("./worker.js")).workerCommand,
  },
  {
    name: "source",
    summary: "run the source device: it takes images from the infer topic and publishes detections",
    load: async () => (await import("./source.js")).sourceCommand,
  },
  {
    name: "demo",
    summary:
      "the main job: YOLOv2 (seeded synthetic weights) split over 3 devices on this machine, one sample image through them; --model fashion: a classifier darknet trained, on test images beside their labels",
    load: async () => (await import("./demo.js")).demoCommand,
  },
  {
    name: "eval",
    summary: "score a labelled test set through a deployment (or one it starts with --cfg): top-1 accuracy",
    load: async () => (await import("./eval.js")).evalCommand,
  },
  {
    name: "run",
    summary: "run a darknet network on this device for one image or tensor",
    load: async () => (await import("./run.js")).runCommand,
  },
  {
    name: "weights",
    summary: "write seeded synthetic weights for a cfg, in darknet's .weights format",
    load: async () => (await import("./weights.js")).weightsCommand,
  },
  {
    name: "acl",
    summary: "print a Mosquitto acl_file giving each user of an auth file what its role may do",
    load: async () => (await import("./acl.js")).aclCommand,
  },
  {
    name: "broker",
    summary: "run the embedded MQTT broker until Ctrl-C, then print the bytes each client moved",
    load: async () => (await import("./broker.js")).brokerCommand,
  },
  {
    name: "lab",
    summary:
      "run plan variants in a namespace lab (shaped links, CPU quotas) and time them against the links' lower bound",
    load: async () => (await import("./lab.js")).labCommand,
  },
  {
    name: "experiment",
    summary: "reproduce the paper's Tables 1 and 2 in namespace labs: runs.csv, table1.md, table2.md and SVG plots",
    load: async () => (await import("./experiment.js")).experimentCommand,
  },
  {
    name: "lab-net",
    summary: "build a namespace lab, measure each device link's rate both ways, tear it down",
    load: async () => (await import("./lab-net.js")).labNet,
  },
  {
    name: "net-probe",
    summary: "measure a link's TCP rate both ways: serve on one host, measure HOST from the other",
    load: async () => (await import("./net-probe.js")).netProbeCommand,
  },
  {
    name: "chaos",
    summary:
      "kill workers and restart Mosquitto at seeded random times under a stream of requests; check each request ends once",
    load: async () => (await import("./chaos.js")).chaosCommand,
  },
  {
    name: "plan",
    summary:
      "plan partitioning for a model and N devices (FTP + LOP/LIP/FUSE via the paper's ILP); print, compare variants, write plan and shards",
    load: async () => (await import("./plan.js")).planCommand,
  },
  {
    name: "planner",
    summary:
      "run the planner actor: plan for the devices on a broker, publish plan and weight shards, re-plan as they come and go",
    load: async () => (await import("./planner.js")).plannerCommand,
  },
];

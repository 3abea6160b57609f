import { z } from "zod";
import { UsageError } from "../../core/errors.js";
import { CACHE_DIR, modelCfg } from "../../core/paths.js";
import { loadNetwork } from "../../dnn/network.js";
import { cachedSyntheticWeights } from "../../dnn/synthetic.js";
import { startLocalSystem } from "../../actors/system.js";
import { type Command, flag, parseFlags } from "../command.js";
import { untilSignal } from "../connection.js";
import { planningFlags, planningOf, resolveCfg } from "../planning-flags.js";
import { inferCommand } from "./infer.js";

const usage =
  "edgefuse up [--devices N] [--port P] [--cfg FILE --weights FILE] [--thresh P] [--scheme auto|lop|lip|fuse-all|paper] [--ftp-layers auto|auto-comm|B] [--grid NxM] [--memory MB] [--max-packet BYTES] [--infer IMAGE [--annotate OUT] [--json]]";
const schema = z
  .object({
    devices: flag.int("a device count").refine((n) => n >= 1 && n <= 64, "must be between 1 and 64").default(3),
    port: flag.int("a port").refine((n) => n >= 0 && n < 65536, "must be a TCP port").default(1883),
    weights: z.string().optional(),
    thresh: flag.probability().default(0.24),
    ...planningFlags.shape,
    cfg: z.string().optional(),
    memory: flag.number("megabytes").refine((n) => n > 0, "must be > 0").default(1024),
    "max-packet": flag.int("a byte count").refine((n) => n >= 4096, "must be ≥ 4096").default(256 * 1024),
    infer: z.string().optional(),
    annotate: z.string().optional(),
    json: z.boolean().default(false),
  })
  .refine(planningFlags.pinsNeedAuto, planningFlags.pinsNeedAutoIssue)
  .refine((o) => (o.cfg === undefined) === (o.weights === undefined), { message: "--cfg and --weights go together (neither: YOLOv2 with synthetic weights)", path: ["cfg"] });

/**
 * The embedded default: broker, planner, source (the N-th device) and N−1 worker
 * processes on this machine, deployment `default`. Runs until Ctrl-C, or with
 * `--infer IMAGE` sends that one image through the devices, prints the result and stops.
 */
export const upCommand: Command = {
  usage,
  async run(argv) {
    const o = parseFlags(
      argv,
      {
        devices: { type: "string" }, port: { type: "string" }, weights: { type: "string" }, thresh: { type: "string" },
        ...planningFlags.options, memory: { type: "string" }, "max-packet": { type: "string" }, infer: { type: "string" }, annotate: { type: "string" }, json: { type: "boolean" },
      },
      schema,
      usage,
    );
    if (o.annotate && !o.infer) throw new UsageError(`--annotate goes with --infer\nusage: ${usage}`);
    const cfg = o.cfg ? resolveCfg(o.cfg) : modelCfg("yolov2");
    const network = loadNetwork(cfg);
    let weightsPath = o.weights;
    if (!weightsPath) {
      const started = performance.now();
      const cached = cachedSyntheticWeights(network, 1, CACHE_DIR);
      console.error(
        `no --cfg/--weights: YOLOv2 608 with seeded synthetic weights (seed 1)${cached.created ? `, generated once in ${Math.round(performance.now() - started)} ms` : ""}: ${cached.path}`,
      );
      weightsPath = cached.path;
    }
    const system = await startLocalSystem({
      network, weightsPath, devices: o.devices, port: o.port, thresh: o.thresh, workerMemoryMB: o.memory, maxPacketBytes: o["max-packet"],
      planning: planningOf({ ...o, cfg }),
    });
    try {
      const plan = await system.source.ready(300_000);
      console.error(`edgefuse up: ${o.devices} devices (source + ${o.devices - 1} workers) on ${system.brokerUrl}, deployment '${system.deployment}', plan ${plan}`);
      if (o.infer) {
        return await inferCommand.run([o.infer, "--broker", system.brokerUrl, ...(o.annotate ? ["--annotate", o.annotate] : []), ...(o.json ? ["--json"] : [])]);
      }
      console.error(`ready: try \`npx edgefuse infer models/images/dog.jpg --broker ${system.brokerUrl}\` or mosquitto_pub -t edgefuse/v1/default/infer/r1 -f dog.jpg; Ctrl-C stops`);
      await untilSignal();
      if (system.broker) {
        console.error("bytes per client (in = sent by the client, out = delivered to it):");
        for (const [id, t] of Object.entries(system.broker.bytes())) console.error(`  ${id.padEnd(24)} in ${(t.bytesIn / 1e6).toFixed(1)} MB  out ${(t.bytesOut / 1e6).toFixed(1)} MB`);
      }
    } finally {
      await system.stop();
    }
  },
};

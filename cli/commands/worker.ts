import { hostname } from "node:os";
import { z } from "zod";
import { DEVICE_RUNTIME_OPTIONS, onnxRuntime } from "../../dnn/onnx/runtime.js";
import { topicsFor, ID_PATTERN } from "../../broker/topics.js";
import { presenceWill } from "../../actors/runtime/device.js";
import { measureGmacPerSec } from "../../actors/runtime/speed.js";
import { startWorker } from "../../actors/worker/worker.js";
import { type Command, flag, parseFlags } from "../command.js";
import { connect, CONNECTION_USAGE, connectionFlags, connectionOptions, untilSignal } from "../connection.js";

const usage = `edgefuse worker [--id ID] [--memory MB] [--threads N] ${CONNECTION_USAGE}`;
const schema = z.object({
  ...connectionFlags,
  id: z.string().regex(ID_PATTERN, "expected 1-64 of [A-Za-z0-9._:-]").default(`${hostname().replace(/[^A-Za-z0-9._:-]/g, "-").slice(0, 40)}-${process.pid}`),
  memory: flag.number("megabytes").refine((n) => n > 0, "must be > 0").default(1024),
  threads: flag.int("a thread count").refine((n) => n >= 1, "must be ≥ 1").default(1),
});

export const workerCommand: Command = {
  usage,
  async run(argv) {
    const o = parseFlags(argv, { ...connectionOptions, id: { type: "string" }, memory: { type: "string" }, threads: { type: "string" } }, schema, usage);
    const runtime = onnxRuntime({ ...DEVICE_RUNTIME_OPTIONS, threads: o.threads });
    const gmacPerSec = await measureGmacPerSec(runtime);
    const topics = topicsFor(o.deployment);
    const client = await connect(o, `worker-${o.id}`, { will: presenceWill(topics, o.id) });
    const worker = await startWorker({
      client, deployment: o.deployment, workerId: o.id, runtime, gmacPerSec,
      memoryBudgetBytes: Math.round(o.memory * 1e6), maxPacketBytes: o["max-packet"],
      log: (line) => console.error(line),
    });
    console.error(`worker ${o.id}: on ${o.broker} (deployment '${o.deployment}'), ${gmacPerSec} GMAC/s, ${o.memory} MB budget`);
    await untilSignal();
    await worker.stop();
    await client.endAsync();
  },
};

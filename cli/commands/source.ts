import { z } from "zod";
import { DEVICE_RUNTIME_OPTIONS, onnxRuntime } from "../../dnn/onnx/runtime.js";
import { ID_PATTERN, topicsFor } from "../../broker/topics.js";
import { presenceWill } from "../../actors/runtime/device.js";
import { measureGmacPerSec } from "../../actors/runtime/speed.js";
import { startSource } from "../../actors/source/source.js";
import { type Command, flag, parseFlags } from "../command.js";
import { connect, CONNECTION_USAGE, connectionFlags, connectionOptions, untilSignal } from "../connection.js";

const usage = `edgefuse source [--id ID] [--thresh P] [--memory MB] [--timeout-ms MS] ${CONNECTION_USAGE}`;
const schema = z.object({
  ...connectionFlags,
  id: z.string().regex(ID_PATTERN, "expected 1-64 of [A-Za-z0-9._:-]").default("source"),
  thresh: flag.probability().default(0.24),
  memory: flag.number("megabytes").refine((n) => n > 0, "must be > 0").default(1024),
  "timeout-ms": flag.int("milliseconds").refine((n) => n >= 100, "must be ≥ 100").default(30_000),
});

export const sourceCommand: Command = {
  usage,
  async run(argv) {
    const o = parseFlags(argv, { ...connectionOptions, id: { type: "string" }, thresh: { type: "string" }, memory: { type: "string" }, "timeout-ms": { type: "string" } }, schema, usage);
    const runtime = onnxRuntime(DEVICE_RUNTIME_OPTIONS);
    const gmacPerSec = await measureGmacPerSec(runtime);
    const client = await connect(o, `source-${o.id}`, { will: presenceWill(topicsFor(o.deployment), o.id) });
    const source = await startSource({
      client, deployment: o.deployment, sourceId: o.id, runtime, gmacPerSec, thresh: o.thresh, jobTimeoutMs: o["timeout-ms"],
      memoryBudgetBytes: Math.round(o.memory * 1e6), maxPacketBytes: o["max-packet"],
    });
    console.error(`source ${o.id}: on ${o.broker} (deployment '${o.deployment}'); send images to ${topicsFor(o.deployment).filters.infer}`);
    await untilSignal();
    await source.stop();
    await client.endAsync();
  },
};

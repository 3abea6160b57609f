import { hostname } from "node:os";
import { DEVICE_RUNTIME_OPTIONS, onnxRuntime } from "../../dnn/onnx/runtime.js";
import { topicsFor } from "../../broker/topics.js";
import { presenceWill } from "../../actors/runtime/device.js";
import { measureGmacPerSec } from "../../actors/runtime/speed.js";
import { startWorker } from "../../actors/worker/worker.js";
import { parentGone } from "../../actors/parent-link.js";
import { defineCommand, flag } from "../command.js";
import { connect, connectionFlags, untilSignal } from "../connection.js";
import { deviceIdFlag, linkFlags, linksGiven, linksText, memoryFlag, speedFlag } from "../devices.js";
import { defineFlags } from "../flags.js";
import { workerClientId } from "../../broker/traffic.js";

const flags = defineFlags({
  ...connectionFlags,
  id: deviceIdFlag(
    `${hostname()
      .replace(/[^A-Za-z0-9._:-]/g, "-")
      .slice(0, 40)}-${process.pid}`,
    "HOSTNAME-PID",
  ),
  memory: memoryFlag,
  ...linkFlags,
  "gmac-per-sec": speedFlag,
  threads: {
    value: "N",
    description: "onnxruntime threads",
    schema: flag.int("a thread count").refine((n) => n >= 1, "must be ≥ 1"),
    default: "1",
  },
});

export const workerCommand = defineCommand({
  name: "worker",
  flags,
  async run(o) {
    const orphaned = parentGone(); // started by up: it stops when up is gone, however up ended
    const runtime = onnxRuntime({ ...DEVICE_RUNTIME_OPTIONS, threads: o.threads });
    const gmacPerSec = o["gmac-per-sec"] ?? (await measureGmacPerSec(runtime));
    const topics = topicsFor(o.deployment);
    const bus = await connect(o, workerClientId(o.id), { will: presenceWill(topics, o.id) });
    const links = linksGiven(o);
    const worker = await startWorker({
      bus,
      deployment: o.deployment,
      workerId: o.id,
      runtime,
      gmacPerSec,
      ...links,
      memoryBudgetBytes: Math.round(o.memory * 1e6),
      log: (line) => console.error(line),
    }).catch(async (err: unknown) => {
      await bus.close(); // one that cannot start (too little --memory) lets go of the broker, so the process exits
      throw err;
    });
    console.error(
      `worker ${o.id}: on ${o.broker} (deployment '${o.deployment}'), ${gmacPerSec} GMAC/s${linksText(links)}, ${o.memory} MB of memory`,
    );
    await Promise.race([untilSignal(), orphaned]);
    await worker.stop();
    await bus.close();
  },
});

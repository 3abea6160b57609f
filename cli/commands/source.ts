import { DEVICE_RUNTIME_OPTIONS, onnxRuntime } from "../../dnn/onnx/runtime.js";
import { topicsFor } from "../../broker/topics.js";
import { measureGmacPerSec } from "../../actors/runtime/speed.js";
import { connectSourceBuses } from "../../actors/source/connections.js";
import { sourceDefaults, startSource } from "../../actors/source/source.js";
import { admissionFlags, admissionOf } from "../admission-flags.js";
import { defineCommand, flag } from "../command.js";
import { connect, connectionFlags, untilSignal } from "../connection.js";
import { deviceIdFlag, linkFlags, linksGiven, memoryFlag, speedFlag } from "../devices.js";
import { defineFlags } from "../flags.js";
import { homeAssistantFlags } from "../home-assistant-flags.js";
import { classNamesOf, namesFlag } from "../names-flag.js";

const flags = defineFlags({
  ...connectionFlags,
  id: deviceIdFlag("source"),
  thresh: {
    value: "P",
    description: "detection threshold",
    schema: flag.probability(),
    default: String(sourceDefaults.thresh),
  },
  names: namesFlag,
  memory: memoryFlag,
  ...linkFlags,
  "gmac-per-sec": speedFlag,
  "timeout-ms": {
    value: "MS",
    description: "a request's deadline",
    schema: flag.int("milliseconds").refine((n) => n >= 100, "must be ≥ 100"),
    default: String(sourceDefaults.jobTimeoutMs),
  },
  ...admissionFlags,
  ...homeAssistantFlags,
});

export const sourceCommand = defineCommand({
  name: "source",
  flags,
  async run(o) {
    const names = classNamesOf(o);
    const runtime = onnxRuntime(DEVICE_RUNTIME_OPTIONS);
    const gmacPerSec = o["gmac-per-sec"] ?? (await measureGmacPerSec(runtime));
    // Three connections, one per last will: presence cleared, status offline, load cleared.
    const buses = await connectSourceBuses(
      topicsFor(o.deployment),
      { clientIdBase: o.id, sourceId: o.id },
      (id, will) => connect(o, id, { will }),
    );
    const { bus, statusBus, loadBus } = buses;
    const source = await startSource({
      bus,
      statusBus,
      loadBus,
      deployment: o.deployment,
      sourceId: o.id,
      runtime,
      gmacPerSec,
      ...linksGiven(o),
      thresh: o.thresh,
      ...names,
      jobTimeoutMs: o["timeout-ms"],
      ...admissionOf(o),
      memoryBudgetBytes: Math.round(o.memory * 1e6),
      ...(o["ha-discovery"] ? { homeAssistantPrefix: o["ha-prefix"] } : {}),
      publishAnnotated: o["publish-annotated"],
    }).catch(async (err: unknown) => {
      await buses.close(); // one that cannot start (too little --memory) lets go of the broker, so the process exits
      throw err;
    });
    console.error(
      `source ${o.id}: on ${o.broker} (deployment '${o.deployment}'); send images to ${topicsFor(o.deployment).filters.requests}`,
    );
    await untilSignal();
    await source.stop();
    await buses.close();
  },
});

/**
 * `edgefuse planner`: the planner actor. It waits until at least --devices devices are
 * present on the broker (the source counted: it announces itself like a worker),
 * plans for them, publishes the plan (retained), sends each device the weight shards it
 * asks for, and re-plans whenever the roster changes, until Ctrl-C. The devices' memory budgets
 * come from their presence.
 */
import { connectBus } from "../../broker/bus.js";
import { loadNetwork } from "../../dnn/network.js";
import { openWeights } from "../../dnn/weights.js";
import { plannerDefaults, startPlanner } from "../../planner/actor.js";
import { defineCommand, flag } from "../command.js";
import { brokerLogin, brokerUrlSchema, connectionFlags, tlsFlags, untilSignal } from "../connection.js";
import { devicesText } from "../devices.js";
import { defineFlags } from "../flags.js";
import { pinsNeedAuto, planningFlags, planningOf, resolveCfg } from "../planning-flags.js";

const { broker, deployment, username } = connectionFlags;

const flags = defineFlags({
  ...planningFlags,
  weights: { value: "FILE", description: "the darknet .weights file the shards are cut from", required: true },
  devices: {
    value: "N",
    description:
      "devices to wait for before the first plan, the source counted (afterwards every arrival or departure re-plans)",
    schema: flag.intIn("a device count", 1, 256),
    default: "1",
  },
  "plan-timeout-ms": {
    value: "MS",
    description:
      "how long a plan may be searched; past it the planner publishes a plan with every partitioned layer LOP instead, and says so",
    schema: flag.int("milliseconds").refine((n) => n >= 1, "must be ≥ 1"),
    default: String(plannerDefaults.planTimeoutMs),
  },
  broker: { value: "URL", description: broker.description, schema: brokerUrlSchema, required: true },
  deployment,
  username,
  ...tlsFlags,
});

export const plannerCommand = defineCommand({
  name: "planner",
  flags,
  rules: [pinsNeedAuto],
  async run(o) {
    const network = loadNetwork(resolveCfg(o.cfg));
    const weights = openWeights(o.weights, network);
    const bus = await connectBus(o.broker, {
      clientId: `planner-${o.deployment}`,
      ...(await brokerLogin(o)),
    });
    const log = (line: string) => console.error(`planner: ${line}`);
    const planner = await startPlanner({
      bus,
      deployment: o.deployment,
      network,
      weights,
      planning: planningOf(o),
      minDevices: o.devices,
      planTimeoutMs: o["plan-timeout-ms"],
      log,
    });
    log(
      `watching ${o.broker} deployment '${o.deployment}' for devices (model ${network.file}, first plan once ${devicesText(o.devices)} are present)`,
    );
    await untilSignal();
    await planner.stop();
    await bus.close();
    weights.close();
  },
});

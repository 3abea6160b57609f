/**
 * `edgefuse planner`: the planner actor. It waits until at least --devices workers
 * have announced themselves on the broker, plans for them, publishes the plan and the
 * weight shards it names (retained), and re-plans whenever the roster changes, until
 * Ctrl-C. The workers' memory budgets come from their presence.
 */
import { z } from "zod";
import { connectBroker } from "../../broker/client.js";
import { ID_PATTERN } from "../../broker/topics.js";
import { loadNetwork } from "../../dnn/network.js";
import { openWeights } from "../../dnn/weights.js";
import { startPlanner } from "../../planner/actor.js";
import { type Command, flag, parseFlags } from "../command.js";
import { untilSignal } from "../connection.js";
import { planningFlags, planningOf, resolveCfg } from "../planning-flags.js";

const usage =
  "edgefuse planner --broker URL --cfg FILE|NAME --weights FILE [--devices N] [--scheme auto|lop|lip|fuse-all|paper] [--ftp-layers auto|auto-comm|B] [--grid NxM] [--pin L=SCHEME,...] [--deployment ID] [--username NAME]   (password: EDGEFUSE_MQTT_PASSWORD)";

const schema = z
  .object({
    ...planningFlags.shape,
    broker: z.string({ error: "required: the broker's URL, e.g. mqtt://127.0.0.1:1883" }).regex(/^(mqtts?|wss?):\/\/./, "expected mqtt://host:port (or mqtts, ws, wss)"),
    weights: z.string({ error: "required: the darknet .weights file the shards are cut from" }).min(1),
    devices: flag.int("a number of workers ≥ 1").refine((n) => n >= 1, "expected at least 1 worker").default(1),
    deployment: z.string().regex(ID_PATTERN, "expected 1-64 of [A-Za-z0-9._:-]").default("default"),
    username: z.string().optional(),
  })
  .refine(planningFlags.pinsNeedAuto, planningFlags.pinsNeedAutoIssue);

const options = {
  ...planningFlags.options,
  broker: { type: "string" },
  weights: { type: "string" },
  devices: { type: "string" },
  deployment: { type: "string" },
  username: { type: "string" },
} as const;

export const plannerCommand: Command = {
  usage,
  async run(argv) {
    const o = parseFlags(argv, options, schema, usage);
    const network = loadNetwork(resolveCfg(o.cfg));
    const weights = openWeights(o.weights, network);
    const client = await connectBroker(o.broker, { clientId: `planner-${o.deployment}`, username: o.username, password: process.env.EDGEFUSE_MQTT_PASSWORD });
    const log = (line: string) => console.error(`planner: ${line}`);
    const planner = await startPlanner({ client, deployment: o.deployment, network, weights, planning: planningOf(o), minDevices: o.devices, log });
    log(`watching ${o.broker} deployment '${o.deployment}' for workers (model ${network.file}, first plan once ${o.devices} are present)`);
    await untilSignal();
    await planner.stop();
    await client.endAsync();
    weights.close();
  },
};

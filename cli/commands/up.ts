import { CACHE_DIR, modelCfg } from "../../core/paths.js";
import { assertCanListen, assertSafeExposure, brokerDefaults, type BrokerOptions } from "../../broker/server.js";
import { sourceDefaults } from "../../actors/source/source.js";
import { defineCommand, flag, type FlagRule } from "../command.js";
import { maxPacketFlag, untilSignal } from "../connection.js";
import { deviceLinkFlags, deviceRoster, linkListRules, memoryFlag, perDeviceLinks } from "../devices.js";
import { reachText, withPortHint } from "../listen.js";
import { defineFlags, type FlagValues } from "../flags.js";
import { planningFlags, pinsNeedAuto, planningOf, resolveCfg } from "../planning-flags.js";
import { admissionFlags, admissionOf } from "../admission-flags.js";
import { homeAssistantFlags } from "../home-assistant-flags.js";
import { classNamesOf, namesFlag } from "../names-flag.js";
import { brokerAccess, brokerAccessFlags, brokerAccessRules, whoGetsIn } from "./broker.js";
import { viewFlag } from "./view.js";
import type { LocalSystem } from "../../actors/system.js";

const { cfg: planningCfg, ...planning } = planningFlags;

/** The flags `up` and `demo` share: the devices and the embedded broker. */
export const deviceFlags = defineFlags({
  devices: {
    value: "N",
    description: "devices in all: the source and N−1 workers",
    schema: flag.intIn("a device count", 1, 64),
    default: "3",
  },
  host: {
    value: "ADDRESS",
    description:
      "address the embedded broker listens on; 0.0.0.0 lets devices on the network join (with --auth, or --insecure)",
    default: brokerDefaults.host,
  },
  auth: {
    value: "FILE",
    description:
      "users of the embedded broker besides this machine's own devices (broker --auth's file); without it other clients are anonymous guests: they send requests and read their results",
  },
  insecure: brokerAccessFlags.insecure,
  port: {
    value: "P",
    description: "the embedded broker's TCP port (0 = any free port)",
    schema: flag.port(),
    default: String(brokerDefaults.port),
  },
});

const flags = defineFlags({
  ...deviceFlags,
  cfg: { ...planningCfg, required: false, defaultText: "YOLOv2 608 with seeded synthetic weights" },
  weights: { value: "FILE", description: "darknet weights for --cfg" },
  names: namesFlag,
  thresh: {
    value: "P",
    description: "detection threshold",
    schema: flag.probability(),
    default: String(sourceDefaults.thresh),
  },
  ...planning,
  memory: {
    ...memoryFlag,
    description: "each worker's whole memory: its process (~100 MB, measured) plus its weights",
  },
  ...deviceLinkFlags,
  "max-packet": maxPacketFlag,
  "tls-cert": brokerAccessFlags["tls-cert"],
  "tls-key": brokerAccessFlags["tls-key"],
  "tls-ca": brokerAccessFlags["tls-ca"],
  infer: { value: "IMAGE", description: "send this image through the devices, print the detections and stop" },
  annotate: { value: "OUT", description: "with --infer: draw the detections into this PNG/JPEG" },
  json: { description: "with --infer: print the result as JSON" },
  view: viewFlag,
  ...admissionFlags,
  ...homeAssistantFlags,
});

type UpFlags = FlagValues<typeof flags>;

const rules: FlagRule<UpFlags>[] = [
  ...brokerAccessRules,
  pinsNeedAuto,
  ...linkListRules,
  {
    flag: "cfg",
    message: "--cfg and --weights go together (neither: YOLOv2 with synthetic weights)",
    holds: (o) => (o.cfg === undefined) === (o.weights === undefined),
  },
  { flag: "annotate", message: "--annotate goes with --infer", holds: (o) => !(o.annotate && !o.infer) },
];

/** Before anything loads (the model, synthetic weights): a taken port is refused at once, in one line. */
export const refuseTakenPort = (o: { host: string; port: number }): Promise<void> =>
  assertCanListen(o.host, o.port).catch((err: unknown) => {
    throw withPortHint(err, { port: o.port });
  });

/**
 * Who besides this machine's own devices may use the embedded broker (--auth's users, anonymous
 * guests, or anyone with --insecure) and its TLS; refused at once, before anything loads, when
 * it would listen beyond this machine without users or --insecure.
 */
export async function brokerAccessOf(
  o: Parameters<typeof brokerAccess>[0] & { host: string; port: number },
): Promise<Pick<BrokerOptions, "auth" | "anonymous" | "tls">> {
  const access = await brokerAccess(o);
  assertSafeExposure(o.host, o.port, access);
  return access;
}

/**
 * Starts the system and, with `infer`, sends that image; otherwise serves until
 * Ctrl-C. `name` is the command speaking (`up` or `demo`).
 */
export async function runUp(name: string, o: UpFlags): Promise<number | undefined> {
  const access = await brokerAccessOf(o);
  await refuseTakenPort(o);
  // Only now the modules that take a while to load (onnxruntime, the image libraries).
  const [{ loadNetwork }, { cachedSyntheticWeights }, { startLocalSystem }, { inferCommand }] = await Promise.all([
    import("../../dnn/network.js"),
    import("../../dnn/synthetic.js"),
    import("../../actors/system.js"),
    import("./infer.js"),
  ]);
  const cfg = o.cfg ? resolveCfg(o.cfg) : modelCfg("yolov2");
  const network = loadNetwork(cfg);
  let weightsPath = o.weights;
  if (!weightsPath) {
    const started = performance.now();
    const cached = cachedSyntheticWeights(network, 1, CACHE_DIR);
    console.error(
      `${name === "up" ? "no --cfg/--weights: " : ""}YOLOv2 608 with seeded synthetic weights (seed 1)${cached.created ? `, generated once in ${Math.round(performance.now() - started)} ms` : ""}: ${cached.path}`,
    );
    weightsPath = cached.path;
  }
  const system = await startLocalSystem({
    network,
    weightsPath,
    devices: o.devices,
    host: o.host,
    port: o.port,
    access,
    thresh: o.thresh,
    ...classNamesOf(o),
    workerMemoryMB: o.memory,
    links: perDeviceLinks(o),
    maxPacketBytes: o["max-packet"],
    planning: planningOf(o),
    admission: admissionOf(o),
    ...(o["ha-discovery"] ? { homeAssistantPrefix: o["ha-prefix"] } : {}),
    // The view shows each request's annotated image.
    publishAnnotated: o["publish-annotated"] || o.view !== undefined,
    forViewer: o.view !== undefined,
  }).catch((err: unknown) => {
    throw withPortHint(err, { port: o.port });
  });
  let stopView = async () => {};
  try {
    const broker = system.broker!; // up always starts the embedded one
    console.error(
      `edgefuse ${name}: broker listening on ${broker.url.slice(0, broker.url.indexOf(":"))}://${broker.listening} (${reachText(o.host, broker.port)}; ${whoGetsIn(o)})`,
    );
    const plan = await system.source.ready(300_000);
    console.error(`edgefuse ${name}: ${deviceRoster(o.devices)}, deployment '${system.deployment}', plan ${plan}`);
    if (o.view !== undefined) stopView = await serveView(name, system, o.host, o.view);
    if (o.infer) {
      // As a client user of its own: with --auth the broker lets no anonymous client in.
      const login = system.clientLogin;
      if (login) process.env.EDGEFUSE_MQTT_PASSWORD = login.password;
      return await inferCommand.run([
        o.infer,
        "--broker",
        system.brokerUrl,
        ...(login ? ["--username", login.username] : []),
        "--max-packet",
        String(o["max-packet"]),
        ...(o.annotate ? ["--annotate", o.annotate] : []),
        ...(o.json ? ["--json"] : []),
      ]);
    }
    console.error(
      `ready: try \`npx edgefuse infer models/images/dog.jpg --broker ${system.brokerUrl}\` or mosquitto_pub -t edgefuse/v1/default/infer/r1 -f dog.jpg; Ctrl-C stops`,
    );
    await untilSignal();
    if (system.broker) {
      console.error("bytes per client (in = sent by the client, out = delivered to it):");
      for (const [id, t] of Object.entries(system.broker.bytes()))
        console.error(
          `  ${id.padEnd(24)} in ${(t.bytesIn / 1e6).toFixed(1)} MB  out ${(t.bytesOut / 1e6).toFixed(1)} MB`,
        );
    }
  } finally {
    await stopView();
    await system.stop();
  }
}

/** `--view`: the live view's page for this system's broker, as its viewer user; resolves to its stop. */
async function serveView(name: string, system: LocalSystem, host: string, port: number): Promise<() => Promise<void>> {
  const [{ startViewServer }, { viewConfig }] = await Promise.all([
    import("../../view/server.js"),
    import("../../view/config.js"),
  ]);
  const broker = system.broker!;
  const server = await startViewServer({
    host,
    port,
    config: viewConfig({ deployment: system.deployment, broker: broker.wsUrl!, login: system.viewerLogin }),
    log: (line) => console.error(line),
  }).catch((err: unknown) => {
    throw withPortHint(err, { view: port });
  });
  console.error(`edgefuse ${name}: live view at ${server.url}`);
  return () => server.close();
}

/**
 * The embedded default: broker, planner, source (the N-th device) and N−1 worker
 * processes on this machine, deployment `default`. Runs until Ctrl-C, or with
 * `--infer IMAGE` sends that one image through the devices, prints the result and stops.
 */
export const upCommand = defineCommand({ name: "up", flags, rules, run: (o) => runUp("up", o) });

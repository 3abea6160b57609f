import { z } from "zod";
import type { EdgefuseError } from "../../core/errors.js";
import { readNames } from "../../dnn/detect/names.js";
import { openLabelledSet } from "../../dnn/dataset/labelled.js";
import { WIRE_CHOICES } from "../../planner/wire.js";
import { topicsFor } from "../../broker/topics.js";
import { sourceDefaults } from "../../actors/source/options.js";
import { defineCommand, flag, type FlagRule } from "../command.js";
import { connect, connectionFlags } from "../connection.js";
import { defineFlags, type FlagValues } from "../flags.js";
import { startLocalDeployment } from "../local-deployment.js";
import { type PoolAnswer, requestEach } from "../request-pool.js";
import { watchSource } from "../source-status.js";
import { progressLine } from "../progress.js";

const flags = defineFlags({
  ...connectionFlags,
  dataset: {
    value: "PATH",
    description:
      "the test set: a folder of images or a list of image paths, each labelled by the class name its file name contains; or a folder of idx files (/usr/share/datasets/fashion-mnist: its 10,000 test images)",
    required: true,
  },
  names: { value: "FILE", description: "class names, one a line: the labels of the data set", required: true },
  cfg: { value: "FILE", description: "start a deployment of this cfg on this machine instead of using --broker's" },
  weights: { value: "FILE", description: "darknet weights for --cfg" },
  devices: {
    value: "N",
    description: "with --cfg: devices in all (the source and N−1 worker processes)",
    schema: flag.intIn("a device count", 1, 64),
    default: "3",
  },
  wire: {
    value: WIRE_CHOICES.join("|"),
    description: "with --cfg: how tensors travel between the devices",
    schema: z.enum(WIRE_CHOICES),
    default: "f32",
  },
  limit: { value: "N", description: "score only the first N images", schema: flag.int("an image count") },
  "in-flight": {
    value: "K",
    description: "requests sent and not yet answered, at most",
    schema: flag.intIn("a request count", 1, 64),
    default: "4",
  },
  "timeout-ms": {
    value: "MS",
    description: "how long one image may take",
    schema: flag.int("milliseconds").refine((n) => n >= 1, "must be ≥ 1"),
    default: String(sourceDefaults.jobTimeoutMs),
  },
});

type EvalFlags = FlagValues<typeof flags>;

const rules: FlagRule<EvalFlags>[] = [
  {
    flag: "cfg",
    message: "--cfg and --weights go together",
    holds: (o) => (o.cfg === undefined) === (o.weights === undefined),
  },
];

/** The connection to score through: a deployment started here (--cfg), or the one --broker and --deployment name. */
async function deploymentFor(o: EvalFlags, names: readonly string[]) {
  if (o.cfg) {
    console.error(`eval: starting ${o.cfg} on ${o.devices} devices (wire ${o.wire})`);
    const local = await startLocalDeployment({
      cfg: o.cfg,
      weights: o.weights!,
      devices: o.devices,
      wire: o.wire,
      classNames: names,
      log: () => undefined,
    });
    console.error(`eval: plan ${local.plan}`);
    return local;
  }
  const bus = await connect(o, `eval-${process.pid}`);
  const topics = topicsFor(o.deployment);
  let gone: EdgefuseError | undefined;
  const watch = await watchSource(bus, topics, o.deployment, (err) => (gone = err)).catch(async (err: unknown) => {
    await bus.close();
    throw err;
  });
  return {
    bus,
    topics,
    failure: () => gone,
    stop: async () => {
      await watch.stop();
      await bus.close();
    },
  };
}

/**
 * Scores a labelled test set through a deployment: every image is published on
 * infer/<id> as a client would, a few in flight, and its top-1 class compared with
 * its label. Prints top-1 accuracy; a progress line while it runs.
 */
export const evalCommand = defineCommand({
  name: "eval",
  flags,
  rules,
  async run(o) {
    const names = readNames(o.names);
    const all = openLabelledSet(o.dataset, names);
    const images = o.limit === undefined ? all : all.slice(0, o.limit);
    const deployment = await deploymentFor(o, names);
    const started = performance.now();
    let done = 0;
    let correct = 0;
    const failures: string[] = [];
    const progress = progressLine(images.length);
    try {
      await requestEach(
        deployment.bus,
        deployment.topics,
        images.length,
        (i) => images[i]!.bytes(),
        { inFlight: o["in-flight"], timeoutMs: o["timeout-ms"], idPrefix: `eval-${process.pid}` },
        (i, answer: PoolAnswer) => {
          done++;
          if (answer.ok) {
            if (answer.result.detections[0]?.classId === images[i]!.label) correct++;
          } else failures.push(`${images[i]!.name}: ${answer.error}`);
          progress.update(done, `top-1 ${((100 * correct) / done).toFixed(2)}%`);
          const gone = "failure" in deployment ? deployment.failure() : undefined;
          if (gone) throw gone;
        },
      );
    } finally {
      progress.end();
      await deployment.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    for (const f of failures.slice(0, 5)) console.error(`failed: ${f}`);
    if (failures.length > 5) console.error(`… and ${failures.length - 5} more failures`);
    console.log(
      `top-1: ${correct}/${images.length} = ${((100 * correct) / images.length).toFixed(2)}% (${o.dataset}; ${failures.length} failed; ${seconds.toFixed(1)} s, ${(images.length / seconds).toFixed(1)} images/s)`,
    );
    return failures.length > 0 ? 1 : 0;
  },
});

import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import type { z } from "zod";
import { EdgefuseError, InputError } from "../../core/errors.js";
import { DetectionSchema } from "../../dnn/detect/detection.js";
import { writeAnnotated } from "../../dnn/image/annotate.js";
import { decodeImage } from "../../dnn/image/decode.js";
import type { Bus } from "../../broker/bus.js";
import { decodeJson, errorMessageSchema } from "../../broker/messages.js";
import { topicsFor, type Topics } from "../../broker/topics.js";
import { resultsSchema, sourceDefaults } from "../../actors/source/source.js";
import type { SourceResult } from "../../actors/source/schemas.js";
import { nameClasses } from "../../dnn/detect/classify.js";
import { readNames } from "../../dnn/detect/names.js";
import { defineCommand, flag, usageError } from "../command.js";
import { connect, connectionFlags, idSchema } from "../connection.js";
import { plural } from "../devices.js";
import { defineFlags } from "../flags.js";
import { watchSource } from "../source-status.js";
import { SYNTHETIC_NOTE } from "../../dnn/synthetic.js";

const flags = defineFlags({
  ...connectionFlags,
  json: { description: "print the whole result (detections, timings, per-stage trace) as JSON" },
  annotate: { value: "OUT", description: "draw the detections into this PNG/JPEG" },
  names: {
    value: "FILE",
    description: "a classifier's class names, one a line: print its classes by these names",
    defaultText: "the names the source gives",
  },
  classes: {
    value: "N",
    description: "classes the palette of --annotate spans",
    schema: flag.int("a class count"),
    default: "80",
  },
  id: {
    value: "REQUEST_ID",
    description: "the request id, the last level of infer/, results/ and errors/",
    schema: idSchema,
    defaultText: "a random one",
  },
  "timeout-ms": {
    value: "MS",
    description: "how long to wait for the answer (a source that is offline, or none, fails it at once)",
    schema: flag.int("milliseconds").refine((n) => n >= 1, "must be ≥ 1"),
    default: String(sourceDefaults.jobTimeoutMs),
  },
});

type Answer = { topic: string; payload: Buffer };

/**
 * Publishes the image once the source is known to be online, then resolves with what
 * comes back on results/<id> or errors/<id>; rejects at the deadline or as soon as the
 * source goes offline.
 */
async function request(
  bus: Bus,
  topics: Topics,
  o: { deployment: string; "timeout-ms": number },
  requestId: string,
  bytes: Buffer,
): Promise<Answer> {
  let fail!: (err: unknown) => void;
  let answered!: (answer: Answer) => void;
  const answer = new Promise<Answer>((resolve, reject) => {
    answered = resolve;
    fail = reject;
  });
  answer.catch(() => undefined); // awaited below; a failure while still subscribing is not unhandled
  const timer = setTimeout(
    () => fail(new EdgefuseError("timeout", `no answer on ${topics.results(requestId)} within ${o["timeout-ms"]} ms`)),
    o["timeout-ms"],
  );
  const source = await watchSource(bus, topics, o.deployment, fail).catch((err: unknown) => {
    clearTimeout(timer);
    throw err;
  });
  try {
    await Promise.all(
      [topics.results(requestId), topics.errors(requestId)].map((filter) =>
        bus.subscribe(filter, { onMessage: (topic, payload) => answered({ topic, payload }), onError: fail }),
      ),
    );
    await bus.publish(topics.infer(requestId), bytes);
    return await answer;
  } finally {
    clearTimeout(timer);
    await source.stop();
  }
}

function printResult(result: z.infer<typeof resultsSchema>, requestId: string, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  for (const d of result.detections)
    console.log(
      "box" in d
        ? `${d.className}: ${Math.round(100 * d.probability)}%  (${d.box.left},${d.box.top})–(${d.box.right},${d.box.bottom})`
        : `${d.className}: ${(100 * d.probability).toFixed(2)}%`,
    );
  if (result.detections.length === 0) console.log("no detections above the threshold");
  const classifier = result.detections.length > 0 && !("box" in result.detections[0]!);
  const what = classifier
    ? plural(result.detections.length, "class", "classes")
    : plural(result.detections.length, "detection");
  console.error(`request ${requestId}: ${what}, ${result.timings.totalMs.toFixed(0)} ms at the source`);
  if (result.synthetic) console.error(SYNTHETIC_NOTE);
}

/** A classifier's classes under --names; boxes keep the source's names. */
function namedDetections(
  detections: SourceResult["detections"],
  names: { file: string; names: string[] },
): SourceResult["detections"] {
  if (detections.some((d) => "box" in d)) return detections;
  return nameClasses(detections, names.names, names.file);
}

/** Publishes one image on `infer/<id>` and prints what comes back on `results/<id>` or `errors/<id>`. */
export const inferCommand = defineCommand({
  name: "infer",
  flags,
  positionals: "IMAGE",
  async run(o, usage) {
    const [imagePath, ...extra] = o.positionals;
    if (!imagePath || extra.length) throw usageError("give exactly one IMAGE", usage);
    let bytes: Buffer;
    try {
      bytes = readFileSync(imagePath);
    } catch (err) {
      throw new InputError(imagePath, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const image = o.annotate ? decodeImage(bytes, imagePath) : undefined;
    const names = o.names ? { file: o.names, names: readNames(o.names) } : undefined; // a bad file fails before sending
    const requestId = o.id ?? randomUUID().slice(0, 18);
    const topics = topicsFor(o.deployment);
    const bus = await connect(o, `infer-${requestId}`);
    try {
      const { topic, payload } = await request(bus, topics, o, requestId, bytes);
      if (topic === topics.errors(requestId)) {
        const e = decodeJson(topic, payload, errorMessageSchema);
        throw new EdgefuseError(e.code, `${e.where}: ${e.message}`);
      }
      const decoded = decodeJson(topic, payload, resultsSchema);
      const result = names ? { ...decoded, detections: namedDetections(decoded.detections, names) } : decoded;
      printResult(result, requestId, o.json);
      if (o.annotate && image) {
        mkdirSync(dirname(o.annotate), { recursive: true });
        writeAnnotated(
          o.annotate,
          image,
          result.detections.filter((d) => DetectionSchema.safeParse(d).success) as z.infer<typeof DetectionSchema>[],
          { classes: o.classes, synthetic: result.synthetic === true },
        );
        console.error(`annotated image written to ${o.annotate}`);
      }
    } finally {
      await bus.close();
    }
  },
});

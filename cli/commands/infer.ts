import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { EdgefuseError, InputError } from "../../core/errors.js";
import { DetectionSchema } from "../../dnn/detect/detection.js";
import { writeAnnotated } from "../../dnn/image/annotate.js";
import { decodeImage } from "../../dnn/image/decode.js";
import { publishChunked, subscribeChunked } from "../../broker/client.js";
import { decodeJson, errorMessageSchema } from "../../broker/messages.js";
import { topicsFor } from "../../broker/topics.js";
import { resultsSchema } from "../../actors/source/source.js";
import { defineCommand, flag, usageError } from "../command.js";
import { connect, connectionFlags, idSchema } from "../connection.js";
import { defineFlags } from "../flags.js";

const flags = defineFlags({
  ...connectionFlags,
  json: { description: "print the whole result (detections, timings, per-stage trace) as JSON" },
  annotate: { value: "OUT", description: "draw the detections into this PNG/JPEG" },
  classes: { value: "N", description: "classes the palette of --annotate spans", schema: flag.int("a class count"), default: "80" },
  id: { value: "REQUEST_ID", description: "the request id, the last level of infer/, results/ and errors/", schema: idSchema, defaultText: "a random one" },
  "timeout-ms": { value: "MS", description: "how long to wait for the answer", schema: flag.int("milliseconds"), default: "120000" },
});

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
    const requestId = o.id ?? randomUUID().slice(0, 18);
    const topics = topicsFor(o.deployment);
    const client = await connect(o, `infer-${requestId}`);
    try {
      const answer = new Promise<{ topic: string; payload: Buffer }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new EdgefuseError("timeout", `no answer on ${topics.results(requestId)} within ${o["timeout-ms"]} ms (is \`edgefuse up\` or a source running?)`)), o["timeout-ms"]);
        void Promise.all(
          [topics.results(requestId), topics.errors(requestId)].map((filter) =>
            subscribeChunked(client, filter, { onMessage: (topic, payload) => (clearTimeout(timer), resolve({ topic, payload })), onError: reject }),
          ),
        ).then(() => publishChunked(client, topics.infer(requestId), bytes, { maxPacketBytes: o["max-packet"] }), reject);
      });
      const { topic, payload } = await answer;
      if (topic === topics.errors(requestId)) {
        const e = decodeJson(topic, payload, errorMessageSchema);
        throw new EdgefuseError(e.code, `${e.where}: ${e.message}`);
      }
      const result = decodeJson(topic, payload, resultsSchema);
      if (o.json) console.log(JSON.stringify(result, null, 2));
      else {
        for (const d of result.detections) console.log("box" in d ? `${d.className}: ${Math.round(100 * d.probability)}%  (${d.box.left},${d.box.top})–(${d.box.right},${d.box.bottom})` : `${d.className}: ${(100 * d.probability).toFixed(2)}%`);
        if (result.detections.length === 0) console.log("no detections above the threshold");
        console.error(`request ${requestId}: ${result.timings.totalMs.toFixed(0)} ms at the source`);
      }
      if (o.annotate && image) {
        mkdirSync(dirname(o.annotate), { recursive: true });
        writeAnnotated(o.annotate, image, result.detections.filter((d) => DetectionSchema.safeParse(d).success) as z.infer<typeof DetectionSchema>[], { classes: o.classes });
        console.error(`annotated image written to ${o.annotate}`);
      }
    } finally {
      await client.endAsync();
    }
  },
});

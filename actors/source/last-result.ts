/**
 * What the source publishes beside a result when asked (`--ha-discovery`,
 * `--publish-annotated`), both retained so a dashboard that starts later sees them:
 *
 * - `latest`: the last result in brief (count, count per class, detections, request,
 *   plan, time, image size): the Home Assistant sensor's state and attributes;
 * - `annotated`: the original image with its boxes and labels, raw JPEG bytes: HA's
 *   image entity, which needs the image whole in one message (no chunks).
 *
 * JPEG, not PNG: for models/images/dog.jpg (768×576) the PNG is 759 kB and costs the
 * source 270 ms of CPU, the JPEG 132 kB and 44 ms, within the default 256 KiB packet
 * limit. An image that still does not fit one packet of the bus's limit is skipped with
 * a log line: the bus would send it as chunks, which HA cannot put together.
 */
import { fitsOnePacket } from "../../broker/chunking.js";
import type { Bus } from "../../broker/bus.js";
import { encodeJson } from "../../broker/messages.js";
import type { Topics } from "../../broker/topics.js";
import { errorMessage } from "../../core/errors.js";
import { annotateImage } from "../../dnn/image/annotate.js";
import { withRequestComment } from "../../view/page/jpeg-comment.js";
import type { FloatImage } from "../../dnn/image/image.js";
import type { Interpretation } from "../../dnn/interpret.js";
import { type LatestResult, latestResultSchema, type SourceResult } from "./schemas.js";

export interface LastResultOptions {
  readonly latest: boolean;
  readonly annotated: boolean;
  readonly log: (line: string) => void;
}

/** The summary on `latest`: what HA shows of a result. */
export function summarize(result: SourceResult): LatestResult {
  const classes: Record<string, number> = {};
  for (const d of result.detections) classes[d.className] = (classes[d.className] ?? 0) + 1;
  const { requestId, planId, timestamp, image, detections } = result;
  return { requestId, planId, timestamp, image, count: detections.length, classes, detections };
}

export type LastResultPublisher = (
  result: SourceResult,
  interpretation: Interpretation,
  image: FloatImage | undefined,
) => Promise<void>;

/** Publishes what `o` asks for after each result; a failure is logged, never the request's (its result is out already). */
export function lastResultPublisher(bus: Bus, topics: Topics, o: LastResultOptions): LastResultPublisher {
  const annotated = topics.annotated();
  return async (result, interpretation, image) => {
    try {
      if (o.latest)
        await bus.publish(topics.latest(), encodeJson(latestResultSchema, summarize(result)), { qos: 1, retain: true });
      // A tensor request has no image to draw on, a classifier no boxes.
      if (!o.annotated || !image || interpretation.kind !== "detections") return;
      // Named by its request (a JPEG comment), so a viewer can tell whose picture it is.
      const jpeg = withRequestComment(
        annotateImage(image, interpretation.detections, "jpeg", {
          classes: interpretation.classes,
          synthetic: result.synthetic === true,
        }),
        result.requestId,
      );
      if (!fitsOnePacket(annotated, jpeg.byteLength, bus.maxPacketBytes)) {
        return o.log(
          `${result.requestId}: annotated image (${jpeg.byteLength} bytes) does not fit one ${bus.maxPacketBytes}-byte packet; not published (raise --max-packet if the broker takes more)`,
        );
      }
      await bus.publish(annotated, jpeg, { qos: 1, retain: true });
    } catch (err) {
      o.log(`${result.requestId}: could not publish the latest result: ${errorMessage(err)}`);
    }
  };
}

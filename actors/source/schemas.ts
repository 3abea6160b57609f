/** The JSON the source publishes, with dnn/'s detection shapes plugged into broker/messages.ts. */
import { z } from "zod";
import { latestSchema, resultSchema } from "../../broker/messages.js";
import { ClassificationSchema, DetectionSchema } from "../../dnn/detect/detection.js";

/** A region network's detections, or a classifier's top classes. */
const detectionOrClass = z.union([DetectionSchema, ClassificationSchema]);

/** `results/<requestId>`. */
export const resultsSchema = resultSchema(detectionOrClass);
export type SourceResult = z.infer<typeof resultsSchema>;

/** `latest` (retained). */
export const latestResultSchema = latestSchema(detectionOrClass);
export type LatestResult = z.infer<typeof latestResultSchema>;

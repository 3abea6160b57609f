/**
 * What post-processing hands back, as JSON on the results topic. The schemas are the
 * wire contract; the types are inferred from them so code and wire cannot drift.
 */
import { z } from "zod";

const fraction = z.number().min(0).max(1);
const probability = fraction;

/** Pixel box in the original image, inclusive edges, clamped as darknet's draw_detections does. */
export const PixelBoxSchema = z
  .object({
    left: z.number().int().min(0),
    top: z.number().int().min(0),
    right: z.number().int().min(0),
    bottom: z.number().int().min(0),
  })
  .refine((b) => b.left <= b.right && b.top <= b.bottom, "box edges must satisfy left ≤ right and top ≤ bottom");

/** The same box as fractions of the original image's width and height, corner form, clipped to [0, 1]. */
export const NormalizedBoxSchema = z
  .object({ left: fraction, top: fraction, right: fraction, bottom: fraction })
  .refine((b) => b.left <= b.right && b.top <= b.bottom, "box edges must satisfy left ≤ right and top ≤ bottom");

export const DetectionSchema = z.object({
  classId: z.number().int().nonnegative(),
  className: z.string().min(1),
  /** objectness × class probability, after NMS. */
  probability,
  box: PixelBoxSchema,
  /** Resolution-free: multiply by the result's image width and height for pixels. */
  normalized: NormalizedBoxSchema,
});
export type Detection = z.infer<typeof DetectionSchema>;
export type PixelBox = z.infer<typeof PixelBoxSchema>;
export type NormalizedBox = z.infer<typeof NormalizedBoxSchema>;

export const DetectionsSchema = z.array(DetectionSchema);

/** One class of a classifier's top-k. */
export const ClassificationSchema = z.object({
  classId: z.number().int().nonnegative(),
  className: z.string().min(1),
  probability,
});
export type Classification = z.infer<typeof ClassificationSchema>;
export const ClassificationsSchema = z.array(ClassificationSchema);

/**
 * What post-processing hands back, as JSON on the results topic. The schemas are the
 * wire contract; the types are inferred from them so code and wire cannot drift.
 */
import { z } from "zod";

const probability = z.number().min(0).max(1);

/** Pixel box in the original image, inclusive edges, clamped as darknet's draw_detections does. */
export const PixelBoxSchema = z
  .object({
    left: z.number().int().min(0),
    top: z.number().int().min(0),
    right: z.number().int().min(0),
    bottom: z.number().int().min(0),
  })
  .refine((b) => b.left <= b.right && b.top <= b.bottom, "box edges must satisfy left ≤ right and top ≤ bottom");

/** darknet's `box`: centre and size as fractions of the original image's width and height. */
export const RelativeBoxSchema = z.object({
  x: z.number(),
  y: z.number(),
  w: z.number().nonnegative(),
  h: z.number().nonnegative(),
});

export const DetectionSchema = z.object({
  classId: z.number().int().nonnegative(),
  className: z.string().min(1),
  /** objectness × class probability, after NMS. */
  probability,
  box: PixelBoxSchema,
  relative: RelativeBoxSchema,
});
export type Detection = z.infer<typeof DetectionSchema>;
export type PixelBox = z.infer<typeof PixelBoxSchema>;
export type RelativeBox = z.infer<typeof RelativeBoxSchema>;

export const DetectionsSchema = z.array(DetectionSchema);

/** One class of a classifier's top-k. */
export const ClassificationSchema = z.object({
  classId: z.number().int().nonnegative(),
  className: z.string().min(1),
  probability,
});
export type Classification = z.infer<typeof ClassificationSchema>;
export const ClassificationsSchema = z.array(ClassificationSchema);

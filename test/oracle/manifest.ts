/**
 * The manifest of one darknet reference folder: what darknet-dump.c writes, and the
 * fields the generator adds (the weights' seed and hash, the cache key, provenance).
 */
import { z } from "zod";

const size = z.object({
  w: z.number().int().positive(),
  h: z.number().int().positive(),
  c: z.number().int().positive(),
});

export const dumpedLayerSchema = z.object({
  index: z.number().int().nonnegative(),
  /** darknet's own name for the layer type (get_layer_string). */
  type: z.string().min(1),
  out_c: z.number().int().nonnegative(),
  out_h: z.number().int().nonnegative(),
  out_w: z.number().int().nonnegative(),
  outputs: z.number().int().positive(),
  /** The file holding the layer's output; a folder may keep only some layers. */
  file: z.string().optional(),
});

/** Exactly what darknet-dump writes. */
export const dumpManifestSchema = z.object({
  cfg: z.string().min(1),
  weights: z.string().min(1),
  image: z.string().min(1),
  /** The image as darknet decoded it, before letterboxing. */
  image_size: size,
  input_file: z.string().min(1),
  input_size: size,
  layers: z.array(dumpedLayerSchema).min(1),
});

export const LAYOUT =
  "float32 little-endian; every tensor in darknet memory order: channel-major C x H x W (index = c*H*W + y*W + x); input.f32 is the letterboxed network input exactly as darknet fed it";

export const oracleManifestSchema = dumpManifestSchema.extend({
  weights_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  weights_seed: z.number().int().nonnegative(),
  layout: z.literal(LAYOUT),
  reference: z.string().min(1),
  /** Hash of everything the folder was made from; a different key means make it again. */
  key: z.string().regex(/^[0-9a-f]{64}$/),
});

export type OracleManifest = z.infer<typeof oracleManifestSchema>;
export type DumpManifest = z.infer<typeof dumpManifestSchema>;

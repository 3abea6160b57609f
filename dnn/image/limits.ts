/**
 * What decoding one image may cost, checked from its header before anything is decoded:
 * images arrive from the network, and a few hundred bytes can claim a frame that takes
 * gigabytes to decode (a JPEG's SOF, a PNG's IHDR) or deflate data that inflates past
 * what its header allows. An edge device must refuse those, not allocate them.
 */
import { InputError } from "../../core/errors.js";

export interface DecodeLimits {
  /** Largest width × height. */
  readonly maxPixels: number;
  /** Largest width or height: bounds per-row work and the resize's intermediate image. */
  readonly maxSide: number;
  /** Largest buffer a decoder produces: a PNG's inflated data or its samples, a JPEG's RGBA pixels. */
  readonly maxBytes: number;
}

/**
 * Camera frames, with room: 4K video is 8.3 MP, camera modules and phones 12–50 MP.
 * Decoding costs about 24 bytes a pixel at its peak (the decoder's RGBA buffers, then
 * darknet's float image at 12 bytes a pixel), so 40 MP is about 1 GB for a moment. A
 * side of 16384 px keeps a thin image's rows and resize bounded (a 1×40M image would
 * be 40 M rows for pngjs, and a 608-wide resize of 16384 rows is 120 MB). 256 MiB of
 * decoder output is 40 MP of 8-bit RGBA, or 32 MP of 16-bit RGBA PNG.
 */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxPixels: 40_000_000,
  maxSide: 16_384,
  maxBytes: 256 * 1024 * 1024,
};

/** What a header says decoding will produce. */
export interface DecodeSize {
  /** "JPEG", "PNG". */
  readonly format: string;
  readonly width: number;
  readonly height: number;
  /** The largest buffer its decoder makes, and what that buffer is. */
  readonly bytes: number;
  readonly bytesWhat: string;
}

/** Refuses, with one line naming the limit, an image whose header asks for more than the limits allow. */
export function checkDecodeSize(source: string, size: DecodeSize, limits: DecodeLimits): void {
  const { format, width, height } = size;
  const frame = `${format} header says ${width}×${height}`;
  if (width > limits.maxSide || height > limits.maxSide)
    throw new InputError(source, `${frame}, over the ${limits.maxSide} px limit on a side`);
  if (width * height > limits.maxPixels)
    throw new InputError(
      source,
      `${frame} = ${width * height} px, over the ${limits.maxPixels} px (${limits.maxPixels / 1e6} MP) limit`,
    );
  if (size.bytes > limits.maxBytes)
    throw new InputError(
      source,
      `${frame}: its ${size.bytesWhat} would be ${size.bytes} bytes, over the ${limits.maxBytes} byte decode limit`,
    );
}

/**
 * Decode JPEG and PNG bytes into darknet's float RGB image, as darknet's
 * load_image_color (src/image.c load_image_stb with channels = 3) gets it from
 * stb_image: 3 channels whatever the file holds (grey is replicated, alpha is
 * dropped without compositing, 16-bit samples keep their high byte), each byte
 * divided by 255, laid out planar C×H×W.
 *
 * The format is chosen by magic bytes, never by file name, because images arrive
 * as raw MQTT payloads. EXIF orientation is ignored, as stb_image and darknet do.
 */
import { readFileSync } from "node:fs";
import { createCanvas, Image } from "@napi-rs/canvas";
import { PNG } from "pngjs";
import { errorMessage, InputError } from "../../core/errors.js";
import { type FloatImage, makeImage } from "./image.js";
import { readJpegFrame } from "./jpeg-markers.js";
import { checkJpegScans } from "./jpeg-scan.js";
import { checkDecodeSize, DEFAULT_DECODE_LIMITS, type DecodeLimits } from "./limits.js";
import { checkPngInflation, pngDataBytes, pngSampleBytes, readPngHeader } from "./png-header.js";

export type ImageFormat = "jpeg" | "png";

const JPEG_MAGIC = [0xff, 0xd8, 0xff];
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Formats people send by mistake, named in the error so the fix is obvious. */
const OTHER_FORMATS: readonly { name: string; magic: readonly number[] }[] = [
  { name: "GIF", magic: [0x47, 0x49, 0x46, 0x38] },
  { name: "BMP", magic: [0x42, 0x4d] },
  { name: "TIFF", magic: [0x49, 0x49, 0x2a, 0x00] },
  { name: "TIFF", magic: [0x4d, 0x4d, 0x00, 0x2a] },
  { name: "WebP (RIFF)", magic: [0x52, 0x49, 0x46, 0x46] },
  { name: "gzip", magic: [0x1f, 0x8b] },
  { name: "ZIP", magic: [0x50, 0x4b, 0x03, 0x04] },
  { name: "PDF", magic: [0x25, 0x50, 0x44, 0x46] },
];

const startsWith = (bytes: Uint8Array, magic: readonly number[]) =>
  bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);

export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (startsWith(bytes, JPEG_MAGIC)) return "jpeg";
  if (startsWith(bytes, PNG_MAGIC)) return "png";
  return undefined;
}

/** "starts with 47 49 46 38 39 61 … ("GIF89a"), looks like GIF" — what the caller actually sent. */
export function describeBytes(bytes: Uint8Array): string {
  if (bytes.length === 0) return "it is empty (0 bytes)";
  const head = bytes.subarray(0, 8);
  const hex = [...head].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  const ascii = [...head].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
  const known = OTHER_FORMATS.find((f) => startsWith(bytes, f.magic));
  return `${bytes.length} bytes starting ${hex}${bytes.length > 8 ? " …" : ""} ("${ascii}")${known ? `, which looks like ${known.name}` : ""}`;
}

/**
 * Decode an image payload. `source` names where the bytes came from (a path, a topic)
 * and leads every error message. Darknet would allocate whatever a header asks for; an
 * edge device must not, so the header is checked against `limits` before decoding.
 */
export function decodeImage(
  bytes: Uint8Array,
  source = "image",
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): FloatImage {
  const format = sniffFormat(bytes);
  if (format === undefined) throw new InputError(source, `not a JPEG or PNG: ${describeBytes(bytes)}`);
  try {
    return format === "jpeg" ? decodeJpeg(bytes, source, limits) : decodePng(bytes, source, limits);
  } catch (err) {
    if (err instanceof InputError) throw err;
    // The decoders throw plain Errors (or worse) on corrupt data; one clear error instead.
    throw new InputError(
      source,
      `corrupt or truncated ${format === "jpeg" ? "JPEG" : "PNG"} (${bytes.length} bytes): ${errorMessage(err)}`,
    );
  }
}

export function loadImage(path: string, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): FloatImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new InputError(path, `cannot read image file: ${errorMessage(err)}`);
  }
  return decodeImage(bytes, path, limits);
}

/**
 * JPEG through Skia (@napi-rs/canvas), i.e. libjpeg-turbo with its default islow IDCT
 * and fancy chroma upsampling, the same filters stb_image uses. On dog.jpg this lands
 * within 3e-4 mean of darknet's input; jpeg-js (nearest-neighbour chroma, own IDCT)
 * was 2e-3 and 5–10× slower.
 */
function decodeJpeg(bytes: Uint8Array, source: string, limits: DecodeLimits): FloatImage {
  const frame = readJpegFrame(bytes); // JpegStructureError → "corrupt or truncated JPEG" below
  const { width, height } = frame;
  checkDecodeSize(
    source,
    { format: "JPEG", width, height, bytes: 4 * width * height, bytesWhat: "RGBA pixels" },
    limits,
  );
  checkJpegScans(frame); // within the limits now: a progressive image's check holds a byte per coefficient
  const img = new Image();
  img.src = Buffer.from(frame.bytes.buffer, frame.bytes.byteOffset, frame.bytes.byteLength);
  if (img.width !== frame.width || img.height !== frame.height) {
    throw new InputError(
      source,
      `corrupt JPEG: the decoder read ${img.width}×${img.height}, the frame header says ${frame.width}×${frame.height}`,
    );
  }
  const canvas = createCanvas(frame.width, frame.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const rgba = ctx.getImageData(0, 0, frame.width, frame.height).data; // opaque, so not premultiplied
  return planarFromInterleaved(rgba, frame.width, frame.height, 4, (v) => v);
}

function decodePng(bytes: Uint8Array, source: string, limits: DecodeLimits): FloatImage {
  // IHDR is the first chunk (PNG spec): check the size before inflating anything.
  const header = readPngHeader(bytes); // PngStructureError → "corrupt or truncated PNG" below
  const inflated = pngDataBytes(header);
  const samples = pngSampleBytes(header);
  checkDecodeSize(
    source,
    {
      format: "PNG",
      width: header.width,
      height: header.height,
      ...(inflated > samples
        ? { bytes: inflated, bytesWhat: "inflated data" }
        : { bytes: samples, bytesWhat: "RGBA samples" }),
    },
    limits,
  );
  // pngjs inflates an interlaced image without any bound, and stops a plain one at its
  // header's size with an error that says nothing ("have should not go down").
  checkPngInflation(bytes, header);
  // skipRescale: pngjs would round 16-bit samples (v·255/65535); stb_image keeps the high
  // byte (stbi__convert_16_to_8), so we scale ourselves below.
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
  // pngjs's metadata, typed as it really is: colorType 3 for palettes, 16-bit data as Uint16Array.
  const meta = png as unknown as {
    width: number;
    height: number;
    depth: number;
    colorType: number;
    transColor?: number[];
    data: Uint8Array | Uint16Array;
  };
  const { width, height, depth, colorType, data } = meta;
  // Palette entries are already 8-bit; other samples are `depth` bits wide.
  const toByte =
    colorType === 3 || depth === 8
      ? (v: number) => v
      : depth === 16
        ? (v: number) => v >> 8
        : (v: number) => (v * 255) / ((1 << depth) - 1); // stbi__depth_scale_table: exact for 1, 2, 4 bits
  restoreTransparentColour(data, meta.transColor, colorType);
  return planarFromInterleaved(data, width, height, 4, toByte);
}

/**
 * pngjs blacks out pixels that match a tRNS colour (RGBA all 0); stb_image only clears
 * their alpha, and darknet then drops alpha, so those pixels keep the tRNS colour.
 */
function restoreTransparentColour(
  data: Uint8Array | Uint16Array,
  trans: number[] | undefined,
  colorType: number,
): void {
  if (trans === undefined || colorType === 3) return;
  const rgb = trans.length === 1 ? [trans[0]!, trans[0]!, trans[0]!] : trans;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) {
      data[i] = rgb[0]!;
      data[i + 1] = rgb[1]!;
      data[i + 2] = rgb[2]!;
    }
  }
}

/** Interleaved HWC samples (stride `stride`) → planar C×H×W floats in 0..1, first 3 channels. */
function planarFromInterleaved(
  src: ArrayLike<number>,
  w: number,
  h: number,
  stride: number,
  toByte: (v: number) => number,
): FloatImage {
  if (src.length < w * h * stride) throw new Error(`decoder returned ${src.length} samples for ${w}×${h}×${stride}`);
  const im = makeImage(w, h, 3);
  const plane = w * h;
  const out = im.data;
  for (let p = 0, s = 0; p < plane; p++, s += stride) {
    out[p] = toByte(src[s]!) / 255;
    out[p + plane] = toByte(src[s + 1]!) / 255;
    out[p + 2 * plane] = toByte(src[s + 2]!) / 255;
  }
  return im;
}

/**
 * An annotated copy of the original image, drawn the way darknet's draw_detections
 * does (src/image.c): boxes draw_box_width pixels wide in the class's get_color
 * colour, and above each box a label in that colour with black text.
 *
 * Boxes are set pixel by pixel in the float image exactly as draw_box does. Text goes
 * through @napi-rs/canvas (Skia, prebuilt for linux x64/arm64/armv7, no system
 * libraries) with DejaVu Sans Bold from @fontsource/dejavu-sans registered at first
 * use, so labels look the same on a machine with no fonts installed.
 */
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { extname } from "node:path";
import { createCanvas, GlobalFonts } from "@napi-rs/canvas";
import { UsageError } from "../../core/errors.js";
import type { Detection } from "../detect/detection.js";
import type { FloatImage } from "./image.js";

export type AnnotationFormat = "png" | "jpeg";

export interface AnnotateOptions {
  /** Classes the network has: darknet spreads the colours over them. */
  readonly classes: number;
  /** Box line width in pixels; darknet's is trunc(image height × 0.006). */
  readonly lineWidth?: number;
  /** Label text height in pixels. */
  readonly fontPx?: number;
  /** JPEG quality 1–100. */
  readonly jpegQuality?: number;
}

const FONT_FAMILY = "edgefuse-label";
const FONT_FILE = "@fontsource/dejavu-sans/files/dejavu-sans-latin-700-normal.woff2";
let fontReady = false;

function ensureFont(): void {
  if (fontReady) return;
  const path = createRequire(import.meta.url).resolve(FONT_FILE);
  if (GlobalFonts.registerFromPath(path, FONT_FAMILY) === null) throw new Error(`could not register label font ${path}`);
  fontReady = true;
}

/**
 * darknet image.c `colors` and get_color. Rows are read as (b, g, r) — draw_detections
 * asks get_color(2, …) for red — so the ramp runs magenta → red → yellow → green → cyan → blue.
 */
const COLORS = [
  [1, 0, 1],
  [0, 0, 1],
  [0, 1, 1],
  [0, 1, 0],
  [1, 1, 0],
  [1, 0, 0],
] as const;

function getColor(c: 0 | 1 | 2, x: number, max: number): number {
  let ratio = Math.fround((x / max) * 5);
  const i = Math.floor(ratio);
  const j = Math.ceil(ratio);
  ratio -= i;
  return (1 - ratio) * COLORS[i]![c] + ratio * COLORS[j]![c];
}

/** The colour darknet gives a class, as 0..1 floats [r, g, b] (draw_detections: offset = class·123457 % classes). */
export function classColor(classId: number, classes: number): [number, number, number] {
  const offset = (classId * 123457) % classes;
  return [getColor(2, offset, classes), getColor(1, offset, classes), getColor(0, offset, classes)];
}

/** darknet draw_box: a one-pixel rectangle, corners clamped into the image. */
function drawBox(a: FloatImage, x1: number, y1: number, x2: number, y2: number, rgb: readonly number[]): void {
  const cx = (x: number) => Math.min(a.w - 1, Math.max(0, x));
  const cy = (y: number) => Math.min(a.h - 1, Math.max(0, y));
  [x1, x2, y1, y2] = [cx(x1), cx(x2), cy(y1), cy(y2)];
  const plane = a.w * a.h;
  for (let k = 0; k < 3; k++) {
    const d = a.data;
    const v = rgb[k]!;
    for (let i = x1; i <= x2; i++) {
      d[k * plane + y1 * a.w + i] = v;
      d[k * plane + y2 * a.w + i] = v;
    }
    for (let i = y1; i <= y2; i++) {
      d[k * plane + i * a.w + x1] = v;
      d[k * plane + i * a.w + x2] = v;
    }
  }
}

/** darknet draw_box_width: `width` nested one-pixel rectangles, growing inwards. */
function drawBoxWidth(a: FloatImage, x1: number, y1: number, x2: number, y2: number, width: number, rgb: readonly number[]): void {
  for (let i = 0; i < width; i++) drawBox(a, x1 + i, y1 + i, x2 - i, y2 - i, rgb);
}

const toByte = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255);
const cssColor = (rgb: readonly number[]) => `rgb(${rgb.map(toByte).join(",")})`;

/** Encode the image with boxes and labels for `detections` (original-image pixel boxes). */
export function annotateImage(image: FloatImage, detections: readonly Detection[], format: AnnotationFormat, options: AnnotateOptions): Buffer {
  if (image.c !== 3) throw new UsageError(`can only annotate 3-channel images, got ${image.c} channels`);
  if (!Number.isInteger(options.classes) || options.classes < 1) throw new UsageError(`classes must be a positive integer, got ${options.classes}`);
  const lineWidth = options.lineWidth ?? Math.max(1, Math.trunc(image.h * 0.006)); // darknet's 0 below 167 px would hide boxes
  const fontPx = options.fontPx ?? Math.max(10, Math.round(image.h * 0.03));
  const pad = Math.max(1, Math.round(fontPx * 0.25)); // darknet: border_image(label, label.h·.25)

  // Least probable first, so the most probable box and label end up on top.
  const order = [...detections].reverse();
  const boxed: FloatImage = { ...image, data: Float32Array.from(image.data) };
  for (const d of order) {
    const { left, top, right, bottom } = d.box;
    drawBoxWidth(boxed, left, top, right, bottom, lineWidth, classColor(d.classId, options.classes));
  }

  const canvas = createCanvas(image.w, image.h);
  const ctx = canvas.getContext("2d");
  const pixels = ctx.createImageData(image.w, image.h);
  const plane = image.w * image.h;
  for (let p = 0; p < plane; p++) {
    pixels.data[4 * p] = toByte(boxed.data[p]!);
    pixels.data[4 * p + 1] = toByte(boxed.data[p + plane]!);
    pixels.data[4 * p + 2] = toByte(boxed.data[p + 2 * plane]!);
    pixels.data[4 * p + 3] = 255;
  }
  ctx.putImageData(pixels, 0, 0);

  ensureFont();
  ctx.font = `${fontPx}px ${FONT_FAMILY}`;
  ctx.textBaseline = "top";
  for (const d of order) {
    const text = `${d.className} ${d.probability.toFixed(2)}`;
    const labelW = Math.ceil(ctx.measureText(text).width) + 2 * pad;
    const labelH = fontPx + 2 * pad;
    // darknet draw_label(im, top + width, left, ...): above the box when it fits, else inside.
    let row = d.box.top + lineWidth;
    if (row - labelH >= 0) row -= labelH;
    ctx.fillStyle = cssColor(classColor(d.classId, options.classes));
    ctx.fillRect(d.box.left, row, labelW, labelH);
    ctx.fillStyle = "rgb(0,0,0)";
    ctx.fillText(text, d.box.left + pad, row + pad);
  }
  return format === "png" ? canvas.toBuffer("image/png") : canvas.toBuffer("image/jpeg", options.jpegQuality ?? 90);
}

/** The output format an annotated file's name asks for. */
export function formatForPath(path: string): AnnotationFormat {
  const ext = extname(path).toLowerCase();
  if (ext === ".png") return "png";
  if (ext === ".jpg" || ext === ".jpeg") return "jpeg";
  throw new UsageError(`${path}: annotated output must end in .png, .jpg or .jpeg, got '${ext || "(no extension)"}'`);
}

/** Write the annotated image to `path`, PNG or JPEG by its extension. */
export function writeAnnotated(path: string, image: FloatImage, detections: readonly Detection[], options: AnnotateOptions): void {
  writeFileSync(path, annotateImage(image, detections, formatForPath(path), options));
}

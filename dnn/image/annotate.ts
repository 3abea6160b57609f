/**
 * An annotated copy of the original image, drawn the way darknet's draw_detections
 * does (src/image.c): boxes draw_box_width pixels wide in the class's get_color
 * colour, and by each box a label in that colour saying class and probability.
 * Unlike darknet, labels never cover each other or leave the image (label-layout.ts),
 * their text is black or white by the colour's luminance, and a picture made with
 * synthetic weights says so in a banner along its bottom.
 *
 * Boxes are set pixel by pixel in the float image exactly as draw_box does. Text goes
 * through @napi-rs/canvas (Skia, prebuilt for linux x64/arm64/armv7, no system
 * libraries) with DejaVu Sans Bold from @fontsource/dejavu-sans registered at first
 * use, so labels look the same on a machine with no fonts installed.
 */
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { extname } from "node:path";
import { createCanvas, GlobalFonts, type SKRSContext2D } from "@napi-rs/canvas";
import { UsageError } from "../../core/errors.js";
import type { Detection } from "../detect/detection.js";
import { SYNTHETIC_NOTE } from "../synthetic.js";
import type { FloatImage } from "./image.js";
import { layoutLabels, type Rect } from "./label-layout.js";
import { BLACK, classColor, type Rgb, textColorOn, WHITE } from "./palette.js";

export type AnnotationFormat = "png" | "jpeg";

export interface AnnotateOptions {
  /** Classes the network has: darknet spreads the colours over them. */
  readonly classes: number;
  /** The weights were generated, not trained: the picture says its boxes mean nothing. */
  readonly synthetic?: boolean;
  /** Box line width in pixels; darknet's is trunc(image height × 0.006). */
  readonly lineWidth?: number;
  /** Label text height in pixels. */
  readonly fontPx?: number;
  /** JPEG quality 1–100. */
  readonly jpegQuality?: number;
}

/** What drawing needs of a detection (the normalized box and the rest may be there too). */
export type Drawn = Pick<Detection, "classId" | "className" | "probability" | "box">;

/** A label as drawn: its text, where, and in which colours. */
export interface PlacedLabel {
  readonly detection: Drawn;
  readonly text: string;
  readonly rect: Rect;
  readonly background: Rgb;
  readonly foreground: Rgb;
}

export interface AnnotationLayout {
  readonly lineWidth: number;
  readonly fontPx: number;
  /** Space between a label's edge and its text. */
  readonly pad: number;
  /** The synthetic-weights banner along the bottom, when there is one. */
  readonly banner?: Rect;
  /** One per detection that found room, most probable first. */
  readonly labels: readonly PlacedLabel[];
}

const FONT_FAMILY = "edgefuse-label";
const FONT_FILE = "@fontsource/dejavu-sans/files/dejavu-sans-latin-700-normal.woff2";
let fontReady = false;

function ensureFont(): void {
  if (fontReady) return;
  const path = createRequire(import.meta.url).resolve(FONT_FILE);
  if (GlobalFonts.registerFromPath(path, FONT_FAMILY) === null)
    throw new Error(`could not register label font ${path}`);
  fontReady = true;
}

/** What a detection's label says, e.g. `dog 87%`. */
export const labelText = (d: Drawn): string => `${d.className} ${Math.round(100 * d.probability)}%`;

/** darknet draw_box: a one-pixel rectangle, corners clamped into the image. */
function drawBox(a: FloatImage, x1: number, y1: number, x2: number, y2: number, rgb: Rgb): void {
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
function drawBoxWidth(a: FloatImage, x1: number, y1: number, x2: number, y2: number, width: number, rgb: Rgb): void {
  for (let i = 0; i < width; i++) drawBox(a, x1 + i, y1 + i, x2 - i, y2 - i, rgb);
}

const toByte = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255);
const cssColor = (rgb: Rgb) => `rgb(${rgb.map(toByte).join(",")})`;

function checkOptions(image: { readonly w: number; readonly h: number }, options: AnnotateOptions): void {
  if (!Number.isInteger(options.classes) || options.classes < 1)
    throw new UsageError(`classes must be a positive integer, got ${options.classes}`);
  if (!Number.isInteger(image.w) || !Number.isInteger(image.h) || image.w < 1 || image.h < 1)
    throw new UsageError(`image size must be positive integers, got ${image.w}×${image.h}`);
}

/**
 * Where everything goes on a w×h picture: the banner (if synthetic) and every label's
 * rectangle and colours. annotateImage draws exactly this.
 */
export function annotationLayout(
  image: { readonly w: number; readonly h: number },
  detections: readonly Drawn[],
  options: AnnotateOptions,
): AnnotationLayout {
  checkOptions(image, options);
  const lineWidth = options.lineWidth ?? Math.max(1, Math.trunc(image.h * 0.006)); // darknet's 0 below 167 px would hide boxes
  const fontPx = options.fontPx ?? Math.max(10, Math.round(image.h * 0.03));
  const pad = Math.max(1, Math.round(fontPx * 0.25)); // darknet: border_image(label, label.h·.25)
  const labelH = fontPx + 2 * pad;
  const banner = options.synthetic
    ? { x: 0, y: Math.max(0, image.h - labelH), w: image.w, h: Math.min(labelH, image.h) }
    : undefined;
  const measure = measurer(fontPx);
  const texts = detections.map(labelText);
  const rects = layoutLabels(
    detections.map((d, i) => ({
      box: d.box,
      score: d.probability,
      w: Math.ceil(measure(texts[i]!)) + 2 * pad,
      h: labelH,
    })),
    image,
    { lineWidth, reserved: banner ? [banner] : [] },
  );
  const labels: PlacedLabel[] = [];
  detections.forEach((d, i) => {
    const rect = rects[i];
    if (!rect) return;
    const background = classColor(d.classId, options.classes);
    labels.push({ detection: d, text: texts[i]!, rect, background, foreground: textColorOn(background) });
  });
  labels.sort((a, b) => b.detection.probability - a.detection.probability);
  return { lineWidth, fontPx, pad, banner, labels };
}

function measurer(fontPx: number): (text: string) => number {
  ensureFont();
  const ctx = createCanvas(1, 1).getContext("2d");
  ctx.font = `${fontPx}px ${FONT_FAMILY}`;
  return (text) => ctx.measureText(text).width;
}

/** The float image with every box drawn in, least probable first so the most probable ends up on top. */
function withBoxes(image: FloatImage, detections: readonly Drawn[], lineWidth: number, classes: number): FloatImage {
  const boxed: FloatImage = { ...image, data: Float32Array.from(image.data) };
  const order = [...detections].sort((a, b) => a.probability - b.probability);
  for (const d of order)
    drawBoxWidth(boxed, d.box.left, d.box.top, d.box.right, d.box.bottom, lineWidth, classColor(d.classId, classes));
  return boxed;
}

function putFloatImage(ctx: SKRSContext2D, image: FloatImage): void {
  const pixels = ctx.createImageData(image.w, image.h);
  const plane = image.w * image.h;
  for (let p = 0; p < plane; p++) {
    pixels.data[4 * p] = toByte(image.data[p]!);
    pixels.data[4 * p + 1] = toByte(image.data[p + plane]!);
    pixels.data[4 * p + 2] = toByte(image.data[p + 2 * plane]!);
    pixels.data[4 * p + 3] = 255;
  }
  ctx.putImageData(pixels, 0, 0);
}

/** A black strip with white text; the note shrinks to fit a narrow picture. */
function drawBanner(ctx: SKRSContext2D, banner: Rect, fontPx: number, pad: number): void {
  ctx.fillStyle = cssColor(BLACK);
  ctx.fillRect(banner.x, banner.y, banner.w, banner.h);
  ctx.font = `${fontPx}px ${FONT_FAMILY}`;
  const room = banner.w - 2 * pad;
  const width = ctx.measureText(SYNTHETIC_NOTE).width;
  if (width > room) ctx.font = `${Math.max(1, Math.floor((fontPx * room) / width))}px ${FONT_FAMILY}`;
  ctx.fillStyle = cssColor(WHITE);
  ctx.fillText(SYNTHETIC_NOTE, banner.x + pad, banner.y + pad);
}

/** Encode the image with boxes and labels for `detections` (original-image pixel boxes). */
export function annotateImage(
  image: FloatImage,
  detections: readonly Drawn[],
  format: AnnotationFormat,
  options: AnnotateOptions,
): Buffer {
  if (image.c !== 3) throw new UsageError(`can only annotate 3-channel images, got ${image.c} channels`);
  const layout = annotationLayout(image, detections, options);
  const canvas = createCanvas(image.w, image.h);
  const ctx = canvas.getContext("2d");
  putFloatImage(ctx, withBoxes(image, detections, layout.lineWidth, options.classes));
  ctx.textBaseline = "top";
  if (layout.banner) drawBanner(ctx, layout.banner, layout.fontPx, layout.pad);
  ctx.font = `${layout.fontPx}px ${FONT_FAMILY}`;
  for (const label of layout.labels) {
    const { x, y, w, h } = label.rect;
    ctx.fillStyle = cssColor(label.background);
    ctx.fillRect(x, y, w, h);
    ctx.fillStyle = cssColor(label.foreground);
    ctx.fillText(label.text, x + layout.pad, y + layout.pad, w - 2 * layout.pad);
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
export function writeAnnotated(
  path: string,
  image: FloatImage,
  detections: readonly Drawn[],
  options: AnnotateOptions,
): void {
  writeFileSync(path, annotateImage(image, detections, formatForPath(path), options));
}

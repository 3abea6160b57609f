/**
 * A labelled test set, in the layouts darknet's classifier and Debian's data sets use:
 *
 *   - a folder of JPEG/PNG files, or a list file of image paths (one a line, relative
 *     to the list's folder): each file's label is the one class name its file name
 *     contains, as darknet's classifier finds labels in paths (data.c fill_truth),
 *     so the same files train and score darknet;
 *   - a folder of idx files (MNIST, Fashion-MNIST: /usr/share/datasets/fashion-mnist):
 *     its t10k test images, labels by class id, each image encoded as a grey PNG.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { PNG } from "pngjs";
import { errorMessage, InputError } from "../../core/errors.js";
import { readIdxImages, readIdxLabels } from "./idx.js";

export interface LabelledImage {
  /** The file, or `<idx file>#<index>`. */
  readonly name: string;
  /** The class id: the line of the names file. */
  readonly label: number;
  /** The image file's bytes, as a client would send them. */
  bytes(): Uint8Array;
}

export const IDX_TEST = { images: "t10k-images-idx3-ubyte.gz", labels: "t10k-labels-idx1-ubyte.gz" } as const;
const IMAGE_FILE = /\.(png|jpe?g)$/i;

/** A grey image as an 8-bit greyscale PNG (what darknet and edgefuse both read as 3 equal channels). */
export function greyPng(pixels: Uint8Array, w: number, h: number): Buffer {
  return PNG.sync.write({ width: w, height: h, data: Buffer.from(pixels.buffer, pixels.byteOffset, w * h) } as PNG, {
    colorType: 0,
    inputColorType: 0,
    bitDepth: 8,
    inputHasAlpha: false,
  });
}

/** The class id of the one name `file`'s base name contains; an error names the file when none or several do. */
export function labelOf(file: string, names: readonly string[]): number {
  const base = basename(file);
  const found = names.flatMap((name, id) => (base.includes(name) ? [id] : []));
  if (found.length !== 1) {
    throw new InputError(
      file,
      found.length === 0
        ? `its file name contains none of the ${names.length} class names`
        : `its file name contains several class names (${found.map((id) => names[id]).join(", ")})`,
    );
  }
  return found[0]!;
}

function fileImage(path: string, names: readonly string[]): LabelledImage {
  return { name: path, label: labelOf(path, names), bytes: () => readFileSync(path) };
}

function idxImages(dir: string, names: readonly string[]): LabelledImage[] {
  const imagesPath = join(dir, IDX_TEST.images);
  const images = readIdxImages(imagesPath);
  const labels = readIdxLabels(join(dir, IDX_TEST.labels));
  if (labels.length !== images.count)
    throw new InputError(dir, `${images.count} images but ${labels.length} labels in ${IDX_TEST.labels}`);
  const size = images.w * images.h;
  return Array.from(labels, (label, i) => {
    if (label >= names.length)
      throw new InputError(`${imagesPath}#${i}`, `label ${label}, there are ${names.length} class names`);
    return {
      name: `${imagesPath}#${i}`,
      label,
      bytes: () => greyPng(images.pixels.subarray(i * size, (i + 1) * size), images.w, images.h),
    };
  });
}

/** The images of `path` (a folder of images, a list file, or a folder of idx files), in order. */
export function openLabelledSet(path: string, names: readonly string[]): LabelledImage[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    throw new InputError(path, `cannot read data set: ${errorMessage(err)}`);
  }
  if (isDir && existsSync(join(path, IDX_TEST.images))) return idxImages(path, names);
  const files = isDir
    ? readdirSync(path)
        .filter((f) => IMAGE_FILE.test(f))
        .sort()
        .map((f) => join(path, f))
    : readFileSync(path, "utf8")
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line !== "")
        .map((line) => resolve(dirname(path), line));
  if (files.length === 0)
    throw new InputError(path, isDir ? "no .png or .jpg files, and no idx test set" : "list names no images");
  return files.map((f) => fileImage(f, names));
}

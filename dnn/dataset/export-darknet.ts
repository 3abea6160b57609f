/**
 * Writes an idx data set (Fashion-MNIST as Debian ships it) in darknet's classifier
 * layout: OUT/train/NNNNN-<name>.png and OUT/test/NNNNN-<name>.png, grey PNGs whose
 * file names carry their label, and OUT/train.list and OUT/test.list of their absolute
 * paths. models/fashion/train.sh runs it:
 *
 *   node dist/dnn/dataset/export-darknet.js IDX_DIR NAMES_FILE OUT_DIR
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { readNames } from "../detect/names.js";
import { readIdxImages, readIdxLabels } from "./idx.js";
import { greyPng, labelOf } from "./labelled.js";

const SPLITS = [
  { split: "train", images: "train-images-idx3-ubyte.gz", labels: "train-labels-idx1-ubyte.gz" },
  { split: "test", images: "t10k-images-idx3-ubyte.gz", labels: "t10k-labels-idx1-ubyte.gz" },
] as const;

export function exportDarknetLayout(idxDir: string, names: readonly string[], outDir: string): void {
  const out = resolve(outDir);
  for (const s of SPLITS) {
    const images = readIdxImages(join(idxDir, s.images));
    const labels = readIdxLabels(join(idxDir, s.labels));
    const size = images.w * images.h;
    mkdirSync(join(out, s.split), { recursive: true });
    const paths = Array.from(labels, (label, i) => {
      const path = join(out, s.split, `${String(i).padStart(5, "0")}-${names[label]}.png`);
      // A name that another name contains would give darknet two labels for one image.
      if (labelOf(path, names) !== label) throw new Error(`${path}: its name reads as another class`);
      writeFileSync(path, greyPng(images.pixels.subarray(i * size, (i + 1) * size), images.w, images.h));
      return path;
    });
    writeFileSync(join(out, `${s.split}.list`), `${paths.join("\n")}\n`);
    console.error(`${s.split}: ${paths.length} images in ${join(out, s.split)}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [idxDir, namesFile, outDir] = process.argv.slice(2);
  if (!idxDir || !namesFile || !outDir) {
    console.error("usage: node dist/dnn/dataset/export-darknet.js IDX_DIR NAMES_FILE OUT_DIR");
    process.exit(2);
  }
  exportDarknetLayout(idxDir, readNames(namesFile), outDir);
}

/**
 * The Fashion-MNIST classifier darknet trained (models/fashion/: train.sh made the
 * weights, README.md has its accuracy): its files, and the 500 test images shipped
 * beside it, whose file names carry their labels.
 */
import { join } from "node:path";
import { MODELS_DIR } from "../../core/paths.js";

const dir = join(MODELS_DIR, "fashion");

export const FASHION = {
  cfg: join(dir, "fashion.cfg"),
  weights: join(dir, "fashion.weights"),
  names: join(dir, "fashion.names"),
  /** The first 500 of the 10,000 test images, as grey 28×28 PNGs named NNNNN-<label>.png. */
  testImages: join(dir, "test-500"),
} as const;

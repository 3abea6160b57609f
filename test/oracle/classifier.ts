/**
 * darknet's own answers for a trained classifier on a set of images: darknet-classify.c,
 * built against Debian's libdarknet, runs each image the way darknet's predict_classifier
 * does and writes the network's output. Made into .cache/oracle/<name>/ under a key of
 * everything it is made from (cfg, weights, every image, the program, darknet), so an
 * unchanged set costs a few file reads.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { z } from "zod";
import { FLOAT32_BYTES } from "../../core/dtypes.js";
import { FASHION } from "../../dnn/dataset/fashion.js";
import { oracleDir, readF32, REPO_ROOT } from "../fixtures.js";
import { buildDumper, type Darknet, describeDarknet, findDarknet, sha256OfParts } from "./darknet.js";
import { keyedManifest, publish } from "./generate.js";

export const CLASSIFY_SOURCE = join(REPO_ROOT, "test", "oracle", "darknet-classify.c");

export interface ClassifierSpec {
  readonly cfg: string;
  readonly weights: string;
  /** A folder of images, run in file-name order. */
  readonly images: string;
}

/** The classifier oracles the suites compare with. */
export const CLASSIFIER_ORACLES = {
  "fashion-test-500": { cfg: FASHION.cfg, weights: FASHION.weights, images: FASHION.testImages },
} as const satisfies Record<string, ClassifierSpec>;
export type ClassifierOracleName = keyof typeof CLASSIFIER_ORACLES;

const OUTPUTS_FILE = "outputs.f32";

const manifestSchema = z.object({
  key: z.string().length(64),
  cfg: z.string().min(1),
  weights: z.string().min(1),
  /** The images' file names, in the order of the rows of outputs.f32. */
  images: z.array(z.string().min(1)).min(1),
  /** Values a row: the network's outputs. */
  outputs: z.number().int().positive(),
  file: z.literal(OUTPUTS_FILE),
  reference: z.string(),
});
export type ClassifierManifest = z.infer<typeof manifestSchema>;

const imageFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort()
    .map((f) => join(dir, f));

function keyOf(spec: ClassifierSpec, images: readonly string[], darknet: Darknet): string {
  const files = [spec.cfg, spec.weights, ...images, CLASSIFY_SOURCE, darknet.library, darknet.header];
  return sha256OfParts([...images.map((p) => basename(p)), ...files.map((p) => readFileSync(p))]);
}

function cached(dir: string, key: string): ClassifierManifest | undefined {
  const m = keyedManifest(dir, key, manifestSchema);
  if (!m) return undefined;
  const outputs = join(dir, m.file);
  return existsSync(outputs) && statSync(outputs).size === FLOAT32_BYTES * m.outputs * m.images.length ? m : undefined;
}

/** darknet's outputs for the spec's images, made into `out` (replacing it). */
export function makeClassifierOracle(spec: ClassifierSpec, out: string, darknet = findDarknet()): ClassifierManifest {
  const images = imageFiles(spec.images);
  if (images.length === 0) throw new Error(`${spec.images}: no images`);
  const bin = buildDumper(darknet, CLASSIFY_SOURCE);
  const tmp = `${resolve(out)}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeFileSync(join(tmp, "images.list"), `${images.map((p) => resolve(p)).join("\n")}\n`);
    // cwd is the output folder: darknet writes a bad.list beside itself when an image will not load.
    const run = spawnSync(bin, [resolve(spec.cfg), resolve(spec.weights), "images.list", OUTPUTS_FILE], {
      cwd: tmp,
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    if (run.error) throw run.error;
    if (run.status !== 0) {
      const last = run.stderr.trim().split("\n").slice(-3).join(" | ");
      throw new Error(`darknet failed on ${spec.cfg} (${run.signal ?? `exit ${run.status}`}): ${last}`);
    }
    const bytes = statSync(join(tmp, OUTPUTS_FILE)).size;
    const outputs = bytes / FLOAT32_BYTES / images.length;
    if (!Number.isInteger(outputs) || outputs < 1)
      throw new Error(`darknet wrote ${bytes} bytes of outputs for ${images.length} images`);
    const manifest: ClassifierManifest = {
      key: keyOf(spec, images, darknet),
      cfg: basename(spec.cfg),
      weights: basename(spec.weights),
      images: images.map((p) => basename(p)),
      outputs,
      file: OUTPUTS_FILE,
      reference: describeDarknet(darknet).replace(
        "network_predict on one image through test/oracle/darknet-dump.c",
        "predict_classifier's letterbox_image and network_predict through test/oracle/darknet-classify.c",
      ),
    };
    writeFileSync(join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 1)}\n`);
    publish(tmp, resolve(out));
    return manifest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** One of the suites' classifier oracles, made into .cache/oracle/<name>/ unless it is there for the same inputs. */
export function ensureClassifierOracle(
  name: ClassifierOracleName,
  darknet = findDarknet(),
): { dir: string; created: boolean } {
  const spec = CLASSIFIER_ORACLES[name];
  const dir = oracleDir(name);
  if (cached(dir, keyOf(spec, imageFiles(spec.images), darknet))) return { dir, created: false };
  makeClassifierOracle(spec, dir, darknet);
  return { dir, created: true };
}

export interface ClassifierOracle {
  readonly manifest: ClassifierManifest;
  /** The image files, in row order. */
  readonly images: string[];
  /** darknet's output for image i: row i. */
  row(i: number): Float32Array;
}

export function readClassifierOracle(name: ClassifierOracleName): ClassifierOracle {
  const dir = oracleDir(name);
  const file = join(dir, "manifest.json");
  if (!existsSync(file))
    throw new Error(`darknet reference ${name} not made yet (${file} missing): run the tests through vitest`);
  const manifest = manifestSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  const all = readF32(join(dir, manifest.file));
  const n = manifest.outputs;
  return {
    manifest,
    images: manifest.images.map((f) => join(CLASSIFIER_ORACLES[name].images, f)),
    row: (i) => all.subarray(i * n, (i + 1) * n),
  };
}

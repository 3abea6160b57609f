/**
 * Makes one darknet reference folder: the project's seeded synthetic weights for a
 * cfg, darknet's letterboxed input and every layer's output for one image, and a
 * manifest (manifest.ts). Folders are cached under a key of everything they are
 * made from, so a changed cfg, image, seed, weights generator, dump program or
 * darknet makes them again, and an unchanged one costs a few file reads.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { z } from "zod";
import { loadImage } from "../../dnn/image/decode.js";
import { loadNetwork } from "../../dnn/network.js";
import { writeSyntheticWeights } from "../../dnn/synthetic.js";
import { cfgPath, imagePath, oracleDir, REPO_ROOT, type OracleName } from "../fixtures.js";
import {
  buildDumper,
  DUMP_SOURCE,
  describeDarknet,
  type Darknet,
  findDarknet,
  runDumper,
  sha256,
  sha256OfParts,
} from "./darknet.js";
import { dumpManifestSchema, LAYOUT, type OracleManifest, oracleManifestSchema } from "./manifest.js";
import { ORACLE_SPECS } from "./specs.js";
import { FLOAT32_BYTES } from "../../core/dtypes.js";

export interface OracleRequest {
  readonly cfg: string;
  readonly seed: number;
  readonly image: string;
  /** The folder to make; replaced as a whole. */
  readonly out: string;
}

/** The sources a reference depends on besides its inputs: the weights generator, this file and the dump program. */
const GENERATOR_SOURCES = [
  join(REPO_ROOT, "dnn", "synthetic.ts"),
  join(REPO_ROOT, "test", "oracle", "generate.ts"),
  DUMP_SOURCE,
];

export function oracleKey(req: Omit<OracleRequest, "out">, darknet: Darknet): string {
  const files = [req.cfg, req.image, ...GENERATOR_SOURCES, darknet.library, darknet.header].map((p) => readFileSync(p));
  return sha256OfParts([String(req.seed), ...files]);
}

/** Make the reference folder `req.out` (replacing it) and return its manifest. */
export function makeOracle(request: OracleRequest, darknet = findDarknet()): OracleManifest {
  // Absolute, because darknet runs in the folder it writes.
  const req = {
    cfg: resolve(request.cfg),
    seed: request.seed,
    image: resolve(request.image),
    out: resolve(request.out),
  };
  const dumper = buildDumper(darknet);
  const network = loadNetwork(req.cfg);
  const image = loadImage(req.image); // refuses what the engine could not read, with the reason
  const tmp = `${req.out}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const weights = join(tmp, `${basename(req.cfg).replace(/\.cfg$/, "")}-s${req.seed}.weights`);
    writeSyntheticWeights(network, req.seed, weights);
    runDumper(dumper, { cfg: req.cfg, weights, image: req.image, out: tmp });
    const manifestFile = join(tmp, "manifest.json");
    if (!existsSync(manifestFile))
      throw new Error(`darknet stopped before writing its outputs for ${req.cfg} (see its messages above)`);
    const dumped = dumpManifestSchema.parse(JSON.parse(readFileSync(manifestFile, "utf8")));
    const { w, h } = dumped.image_size;
    if (w !== image.w || h !== image.h) throw new Error(`${req.image}: ${sizeMismatch({ w, h }, image)}`);
    const manifest: OracleManifest = {
      ...dumped,
      weights_sha256: sha256(readFileSync(weights)),
      weights_seed: req.seed,
      layout: LAYOUT,
      reference: describeDarknet(darknet),
      key: oracleKey(req, darknet),
    };
    writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 1)}\n`);
    publish(tmp, req.out);
    return manifest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Why darknet's image is not the engine's, in the two ways seen. */
function sizeMismatch(darknet: { w: number; h: number }, engine: { w: number; h: number }): string {
  const sizes = `darknet decoded it as ${darknet.w}×${darknet.h}, the engine as ${engine.w}×${engine.h}`;
  // An OpenCV build of darknet turns the image by its EXIF orientation; the engine, like stb_image, does not.
  if (darknet.w === engine.h && darknet.h === engine.w)
    return `${sizes}: darknet applied the EXIF orientation, which the engine ignores; use an upright image`;
  // load_image_color gives a blank 10×10 image for a file it cannot decode.
  return `${sizes}: darknet could not read it`;
}

/**
 * Move a finished folder into place. Another process may be making the same folder
 * at the same time (several vitest runs in one checkout): whichever lands last wins,
 * and both made it from the same inputs.
 */
export function publish(tmp: string, out: string): void {
  mkdirSync(dirname(out), { recursive: true });
  const old = `${out}.${process.pid}.old`;
  if (existsSync(out)) renameSync(out, old);
  try {
    renameSync(tmp, out);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err; // else another process published first
  } finally {
    rmSync(old, { recursive: true, force: true });
  }
}

/** `dir`'s manifest.json if it parses and was made under `key`, else undefined. */
export function keyedManifest<T extends { key: string }>(
  dir: string,
  key: string,
  schema: z.ZodType<T>,
): T | undefined {
  const file = join(dir, "manifest.json");
  if (!existsSync(file)) return undefined;
  const parsed = schema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  return parsed.success && parsed.data.key === key ? parsed.data : undefined;
}

/** The manifest in `dir` if it was made under `key` and its files are all there, else undefined. */
function cachedManifest(dir: string, key: string): OracleManifest | undefined {
  const m = keyedManifest(dir, key, oracleManifestSchema);
  if (!m) return undefined;
  const sizes: [string, number][] = [[m.input_file, FLOAT32_BYTES * m.input_size.c * m.input_size.h * m.input_size.w]];
  for (const l of m.layers) if (l.file) sizes.push([l.file, FLOAT32_BYTES * l.outputs]);
  const complete =
    existsSync(join(dir, m.weights)) &&
    sizes.every(([f, bytes]) => existsSync(join(dir, f)) && statSync(join(dir, f)).size === bytes);
  return complete ? m : undefined;
}

/** One of the suites' references, made into .cache/oracle/<name>/ unless it is already there for the same inputs. */
export function ensureOracle(name: OracleName, darknet = findDarknet()): { dir: string; created: boolean } {
  const spec = ORACLE_SPECS[name];
  const req = { cfg: cfgPath(spec.cfg), seed: spec.seed, image: imagePath(spec.image), out: oracleDir(name) };
  if (cachedManifest(req.out, oracleKey(req, darknet))) return { dir: req.out, created: false };
  makeOracle(req, darknet);
  return { dir: req.out, created: true };
}

/**
 * The test fixtures, all inside the repository: the cfgs, images and class names in
 * `models/`, and darknet's reference outputs, made from them by darknet itself into
 * `.cache/oracle/<name>/` (test/oracle/: vitest's globalSetup makes them once).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type OracleManifest, oracleManifestSchema } from "./oracle/manifest.js";

export type { OracleManifest } from "./oracle/manifest.js";

/** The nearest folder holding package.json: the repository, whether this runs from test/ or dist/test/. */
function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const REPO_ROOT = findRepoRoot(dirname(fileURLToPath(import.meta.url)));
const MODELS = join(REPO_ROOT, "models");
export const ORACLE_CACHE = join(REPO_ROOT, ".cache", "oracle");

export const cfgPath = (name: string) => join(MODELS, "cfg", `${name}.cfg`);
export const imagePath = (name: string) => join(MODELS, "images", name);
export const namesPath = (name: "coco" | "voc") => join(MODELS, `${name}.names`);
export const oracleDir = (name: string) => join(ORACLE_CACHE, name);

/** The references the suites compare with; test/oracle/specs.ts says what each is made from. */
export const ORACLES = ["yolov2-mini-s7-dog", "fc-mini-s3-dog", "yolov2-tiny-s1-dog"] as const;
export type OracleName = (typeof ORACLES)[number];

export function readOracle(name: string): OracleManifest & { dir: string } {
  const dir = oracleDir(name);
  const file = join(dir, "manifest.json");
  if (!existsSync(file)) {
    throw new Error(
      `darknet reference ${name} not made yet (${file} missing): run the tests through vitest, whose globalSetup makes it, or npm run oracle`,
    );
  }
  const parsed = oracleManifestSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${file}: ${issue.path.join(".") || "manifest"}: ${issue.message}`);
  }
  return { ...parsed.data, dir };
}

export function readF32(path: string): Float32Array {
  const buf = readFileSync(path);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

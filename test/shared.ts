/** Where the shared fixtures live: `../shared` beside the repository (models, oracle outputs). */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const SHARED = process.env.EDGEFUSE_SHARED ?? resolve(REPO_ROOT, "..", "shared");
if (!existsSync(SHARED)) throw new Error(`shared fixtures not found at ${SHARED} (set EDGEFUSE_SHARED)`);

export const cfgPath = (name: string) => join(SHARED, "models", "cfg", `${name}.cfg`);
export const imagePath = (name: string) => join(SHARED, "models", "images", name);
export const namesPath = (name: "coco" | "voc") => join(SHARED, "models", `${name}.names`);
export const oracleDir = (name: string) => join(SHARED, "oracle", name);

export interface OracleManifest {
  cfg: string;
  weights: string;
  image: string;
  input_file: string;
  layers: { index: number; type: string; out_c: number; out_h: number; out_w: number; outputs: number; file?: string }[];
}
export const ORACLES = ["yolov2-mini-s7-dog", "fc-mini-s3-dog", "yolov2-tiny-s1-dog"] as const;

export function readOracle(name: string): OracleManifest & { dir: string } {
  const dir = oracleDir(name);
  return { ...(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as OracleManifest), dir };
}

export function readF32(path: string): Float32Array {
  const buf = readFileSync(path);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

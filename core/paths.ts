/** Where the package's own files are, from source (vitest) or from dist/ alike. */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
/** cfg files, sample images and class names shipped with the package. */
export const MODELS_DIR = join(PACKAGE_ROOT, "models");
export const modelCfg = (name: string) => join(MODELS_DIR, "cfg", `${name}.cfg`);
export const sampleImage = (name = "dog.jpg") => join(MODELS_DIR, "images", name);
/** Generated files (synthetic weights): EDGEFUSE_CACHE or .cache/ in the package. */
export const CACHE_DIR = resolve(process.env.EDGEFUSE_CACHE ?? join(PACKAGE_ROOT, ".cache"));

/**
 * darknet itself, as the system's package provides it: Debian's `darknet` ships
 * libdarknet.so and darknet.h (pjreddie/darknet of 2018), and darknet-dump.c, built
 * against them, runs one image through a network and writes every layer's output.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { ORACLE_CACHE, REPO_ROOT } from "../fixtures.js";

export const DARKNET_DIR = "/usr/lib/darknet";
export const DUMP_SOURCE = join(REPO_ROOT, "test", "oracle", "darknet-dump.c");

/** A missing tool: a one-line message saying what to install, without a stack trace to wade through. */
export class MissingToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MissingToolError";
    this.stack = `${this.name}: ${message}`;
  }
}

export interface Darknet {
  readonly library: string;
  readonly header: string;
}

/** The installed darknet, or a MissingToolError naming the package to install. */
export function findDarknet(dir = DARKNET_DIR): Darknet {
  const found = { library: join(dir, "libdarknet.so"), header: join(dir, "include", "darknet.h") };
  const missing = Object.values(found).filter((p) => !existsSync(p));
  if (missing.length) {
    throw new MissingToolError(
      `darknet's reference outputs need Debian's darknet package (${missing.join(", ")} not found): apt-get install darknet (test/setup/services.sh installs it for npm test)`,
    );
  }
  return found;
}

export const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

/** One hash of several parts, each hashed first so no two lists of parts collide. */
export const sha256OfParts = (parts: (string | Uint8Array)[]) => sha256(parts.map(sha256).join("\n"));

/** A program against libdarknet (the dump program unless `source` says another), compiled into .cache once per source and header. */
export function buildDumper(darknet: Darknet, source = DUMP_SOURCE): string {
  const hash = sha256OfParts([readFileSync(source), readFileSync(darknet.header)]).slice(0, 16);
  const bin = join(ORACLE_CACHE, "bin", `${basename(source, ".c")}-${hash}`);
  if (existsSync(bin)) return bin;
  mkdirSync(join(ORACLE_CACHE, "bin"), { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const dir = join(darknet.header, "..", "..");
  const args = [
    "-O2",
    "-Wall",
    `-I${join(dir, "include")}`,
    source,
    `-L${dir}`,
    "-ldarknet",
    `-Wl,-rpath,${dir}`,
    "-o",
    tmp,
  ];
  const gcc = spawnSync("gcc", args, { encoding: "utf8" });
  if (gcc.error) {
    const code = (gcc.error as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new MissingToolError(`building ${source} needs gcc (not found on PATH): apt-get install gcc libc6-dev`);
    throw gcc.error;
  }
  if (gcc.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`gcc could not build ${source}:\n${gcc.stderr.trim()}`);
  }
  renameSync(tmp, bin);
  return bin;
}

/** One line on which darknet this is: the package version and how it decodes images. */
export function describeDarknet(darknet: Darknet): string {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field placeholder, not a JavaScript template
  const dpkg = spawnSync("dpkg-query", ["-W", "-f", "${Version}", "darknet"], { encoding: "utf8" });
  const version = dpkg.status === 0 && dpkg.stdout ? `Debian darknet ${dpkg.stdout}` : `darknet at ${darknet.library}`;
  // An OpenCV build's load_image_color reads files with OpenCV's imread (libjpeg), otherwise with stb_image.
  const opencv = readFileSync(darknet.library).includes("load_image_cv");
  const decoder = opencv
    ? "built with OpenCV: images decoded by OpenCV imread (libjpeg)"
    : "images decoded by stb_image";
  return `${version} (pjreddie/darknet; ${decoder}), network_predict on one image through test/oracle/darknet-dump.c`;
}

/** Run the dump program; a failure carries darknet's last words. */
export function runDumper(bin: string, args: { cfg: string; weights: string; image: string; out: string }): void {
  // cwd is the output folder: darknet writes a bad.list beside itself when an image will not load.
  const run = spawnSync(bin, [args.cfg, args.weights, args.image, args.out], {
    cwd: args.out,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  if (run.error) throw run.error;
  if (run.status !== 0) {
    const last = run.stderr.trim().split("\n").slice(-3).join(" | ");
    throw new Error(
      `darknet failed on ${args.cfg} with ${args.image} (${run.signal ?? `exit ${run.status}`}): ${last}`,
    );
  }
}

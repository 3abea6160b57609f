/**
 * vitest globalSetup: suites that spawn the CLI run bin/edgefuse, which runs dist/,
 * so dist/ must be the sources under test. Rebuilding only when some source is newer
 * than its output keeps a run that changed nothing from paying for tsc (~30 s on two
 * cores); running the TypeScript through a loader instead would need one that is not
 * installed, and would slow every spawned process.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { REPO_ROOT } from "../fixtures.js";

/** The directories tsconfig.json compiles. */
const SOURCE_DIRS = ["core", "dnn", "planner", "broker", "actors", "cli", "lab", "bench", "test", "view"];
const DIST = join(REPO_ROOT, "dist");

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) yield path;
  }
}

const mtime = (path: string): number | undefined => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
};

/** The first source, last changed before `before`, whose compiled file is missing or older than it. */
export function staleSource(before = Infinity): string | undefined {
  for (const dir of SOURCE_DIRS) {
    for (const source of sources(join(REPO_ROOT, dir))) {
      const changed = mtime(source)!;
      const built = mtime(join(DIST, relative(REPO_ROOT, source)).replace(/\.ts$/, ".js"));
      if (changed < before && (built === undefined || built < changed)) return relative(REPO_ROOT, source);
    }
  }
  return undefined;
}

export default function setup(): void {
  const stale = staleSource();
  if (stale === undefined) return;
  const started = Date.now();
  const tsc = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", join(REPO_ROOT, "tsconfig.json")], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  });
  // Type errors still emit JavaScript; the type-check is `npm test`'s own step, so only
  // a build that leaves dist/ stale stops the run (a file saved during the build is not its fault).
  const still = staleSource(started);
  if (still !== undefined)
    throw new Error(`building dist/ (${stale} was newer) left ${still} unbuilt:\n${run.stdout}${run.stderr}`);
}

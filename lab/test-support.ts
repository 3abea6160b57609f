/** Shared by the lab's tests: the root check, one teardown helper, and leftover probes. */
import { readdirSync } from "node:fs";
import { afterEach, beforeAll } from "vitest";
import { CPU_CGROUP_ROOT } from "./names.js";
import { createLab, type Lab, type LabDeps } from "./netns.js";
import type { LabOptions } from "./options.js";
import { runSync } from "./sh.js";
import { cleanupStale } from "./stale.js";

/** Fail (never skip) when the tests cannot do what they are for. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "lab tests need root: they create network namespaces, tc qdiscs and cgroups (run `npm test` as root, as CI does)",
    );
  }
}

/**
 * createLab with this suite's name prefix, destroyed after each test even when the
 * test fails. Leftovers of an earlier run of the suite that crashed go first.
 */
export function useLabs(namePrefix: string): (options: Omit<LabOptions, "namePrefix">, deps?: LabDeps) => Promise<Lab> {
  const labs: Lab[] = [];
  beforeAll(() => {
    cleanupStale(namePrefix);
  });
  afterEach(async () => {
    await Promise.all(labs.splice(0).map((lab) => lab.destroy()));
  });
  return async (options, deps) => {
    const lab = await createLab({ ...options, namePrefix }, deps);
    labs.push(lab);
    return lab;
  };
}

/** Everything on the machine whose name contains `needle`: namespaces, root-namespace links, cpu cgroups. */
export function leftovers(needle: string): { namespaces: string[]; links: string[]; cgroups: string[] } {
  const has = (s: string): boolean => s.includes(needle);
  return {
    namespaces: runSync(["ip", "netns", "list"]).stdout.split("\n").filter(has),
    links: runSync(["ip", "-o", "link"]).stdout.split("\n").filter(has),
    cgroups: readdirSync(CPU_CGROUP_ROOT).filter(has),
  };
}

export const NOTHING = { namespaces: [], links: [], cgroups: [] };

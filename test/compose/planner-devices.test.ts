/**
 * compose.yaml's planner makes its first plan for as many devices as the file starts:
 * the planner's own command, run by the shell as compose would run it, against the
 * device services (those that shape their link) and their replicas. No container engine
 * needed: compose's variable interpolation is done here, as compose does it.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { REPO_ROOT } from "../fixtures.js";

const service = z.object({
  entrypoint: z.array(z.string()).optional(),
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.union([z.string(), z.number(), z.null()])).optional(),
  deploy: z.object({ replicas: z.union([z.string(), z.number()]) }).optional(),
});
const composeFile = z.object({ services: z.record(z.string(), service) });

/** compose's interpolation: `$$` is a `$`, `${VAR:-default}` and `${VAR}` read the environment. */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(
    /\$\$|\$\{(\w+)(?::-([^}]*))?\}/g,
    (whole, name: string | undefined, fallback: string | undefined) => {
      if (whole === "$$") return "$";
      const value = env[name!];
      return value !== undefined && value !== "" ? value : (fallback ?? "");
    },
  );
}

function loadCompose(env: Record<string, string>) {
  const text = interpolate(readFileSync(join(REPO_ROOT, "compose.yaml"), "utf8"), env);
  return composeFile.parse(parse(text, { merge: true }));
}

/** The arguments the planner service hands to edgefuse, by running its entry point with a stand-in edgefuse. */
function plannerArgs(compose: z.infer<typeof composeFile>): string[] {
  const planner = compose.services.planner!;
  const bin = mkdtempSync(join(tmpdir(), "edgefuse-compose-"));
  writeFileSync(join(bin, "edgefuse"), '#!/bin/sh\nprintf "%s\\n" "$@"\n');
  chmodSync(join(bin, "edgefuse"), 0o755);
  // The image's entry point (device-start) ends in `exec edgefuse "$@"`; with no shaping asked for it adds nothing.
  const argv = [...(planner.entrypoint ?? ["edgefuse"]), ...(planner.command ?? [])];
  const [file, ...args] = argv[0] === "device-start" ? ["edgefuse", ...argv.slice(1)] : argv;
  const env = Object.fromEntries(Object.entries(planner.environment ?? {}).map(([k, v]) => [k, String(v ?? "")]));
  const run = spawnSync(file!, args, { env: { PATH: `${bin}:/usr/bin:/bin`, ...env }, encoding: "utf8" });
  expect(run.status, run.stderr).toBe(0);
  return run.stdout.trimEnd().split("\n");
}

/**
 * What a device service hands to edgefuse through the image's entry point
 * (docker/device-start.sh), with its link left unshaped (BANDWIDTH empty) so it can run here.
 */
function deviceArgs(compose: z.infer<typeof composeFile>, name: string): string[] {
  const device = compose.services[name]!;
  const bin = mkdtempSync(join(tmpdir(), "edgefuse-compose-"));
  writeFileSync(join(bin, "edgefuse"), '#!/bin/sh\nprintf "%s\\n" "$@"\n');
  chmodSync(join(bin, "edgefuse"), 0o755);
  const env = Object.fromEntries(Object.entries(device.environment ?? {}).map(([k, v]) => [k, String(v ?? "")]));
  const run = spawnSync(join(REPO_ROOT, "docker", "device-start.sh"), device.command ?? [], {
    env: { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, ...env, BANDWIDTH: "", DELAY: "" },
    encoding: "utf8",
  });
  expect(run.status, run.stderr).toBe(0);
  return run.stdout
    .trimEnd()
    .split("\n")
    .filter((l) => !l.startsWith("device-start:"));
}

/** The device containers: every service that shapes its own link, times its replicas. */
function devicesStarted(compose: z.infer<typeof composeFile>): number {
  return Object.values(compose.services)
    .filter((s) => s.environment && "BANDWIDTH" in s.environment)
    .reduce((n, s) => n + Number(s.deploy?.replicas ?? 1), 0);
}

describe("compose.yaml", () => {
  it.each<Record<string, string>>([{}, { WORKERS: "3" }, { WORKERS: "1" }])(
    "the planner's first plan waits for every device the stack starts (%j)",
    (env) => {
      const compose = loadCompose(env);
      const args = plannerArgs(compose);
      expect(args[0]).toBe("planner");
      const devices = args[args.indexOf("--devices") + 1];
      expect(args).toContain("--devices");
      const started = devicesStarted(compose);
      expect(started).toBe(Number(env.WORKERS ?? 5) + 1); // the source and the workers
      expect(Number(devices)).toBe(started);
    },
  );

  it.each<[string, Record<string, string>, string[]]>([
    ["source", { THRESH: "0.5" }, ["--thresh", "0.5"]],
    ["source", {}, []],
    ["worker", { MEMORY_MB: "300" }, ["--memory", "300"]],
    ["worker", {}, []],
  ])("the %s's knobs %j reach it as flags, and unset leave the CLI's defaults", (name, env, flags) => {
    const args = deviceArgs(loadCompose(env), name);
    expect(args[0]).toBe(name);
    expect(args.slice(args.length - flags.length)).toEqual(flags);
    for (const flag of ["--thresh", "--memory"]) if (!flags.includes(flag)) expect(args).not.toContain(flag);
  });
});

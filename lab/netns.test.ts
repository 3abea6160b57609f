import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { LabError } from "../core/errors.js";
import { CPU_CGROUP_ROOT, labCgroup } from "./names.js";
import { run, type Runner } from "./sh.js";
import { cleanupStale } from "./stale.js";
import { NOTHING, leftovers, requireRoot, useLabs } from "./test-support.js";

const PREFIX = "efnetns";

/** Collect a child's stdout and exit code. */
function output(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr?.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

const exited = (child: ChildProcess): Promise<unknown> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once("exit", r));

describe("lab namespaces", () => {
  beforeAll(requireRoot);
  const createLab = useLabs(PREFIX);
  const createStaleTestLab = useLabs("efstale");

  it("puts each device in its own namespace, address, shaped link and cgroup", async () => {
    const lab = await createLab({ devices: 2, bandwidthMbit: [100, 10], cpuShare: 0.5 });
    expect(lab.hubAddress).toBe("10.77.0.1");
    expect([lab.addressOf(0), lab.addressOf(1)]).toEqual(["10.77.0.2", "10.77.0.3"]);
    expect(() => lab.addressOf(2)).toThrow(/no device 2/);

    const addr = await output(lab.exec(1, ["ip", "-o", "-4", "addr", "show", "dev", "eth0"]));
    expect(addr.code).toBe(0);
    expect(addr.stdout).toContain("10.77.0.3/24");

    // Both ends of device 1's link carry tbf at 10 mbit.
    const up = await output(lab.exec(1, ["tc", "qdisc", "show", "dev", "eth0"]));
    const down = await output(lab.exec("hub", ["tc", "qdisc", "show", "dev", "d1"]));
    expect(up.stdout).toMatch(/tbf .*rate 10Mbit/);
    expect(down.stdout).toMatch(/tbf .*rate 10Mbit/);

    // The program itself (same pid through sh's exec and ip's exec) sits in the device's cgroup.
    const sleeper = lab.exec(0, ["sleep", "30"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(readFileSync(`/proc/${sleeper.pid}/cgroup`, "utf8")).toMatch(new RegExp(`:cpu:/${lab.id}/d0$`, "m"));
    // Half a core over 10 ms periods (cgroup.ts).
    expect(readFileSync(`${labCgroup(lab.id)}/d0/cpu.cfs_period_us`, "utf8").trim()).toBe("10000");
    expect(readFileSync(`${labCgroup(lab.id)}/d0/cpu.cfs_quota_us`, "utf8").trim()).toBe("5000");
    // Start-up runs unlimited, then every device returns to its share.
    lab.limitCpu(false);
    for (const d of ["d0", "d1"])
      expect(readFileSync(`${labCgroup(lab.id)}/${d}/cpu.cfs_quota_us`, "utf8").trim()).toBe("-1");
    lab.limitCpu(true);
    for (const d of ["d0", "d1"])
      expect(readFileSync(`${labCgroup(lab.id)}/${d}/cpu.cfs_quota_us`, "utf8").trim()).toBe("5000");

    // The environment is passed through, with additions.
    const env = await output(lab.exec(0, ["sh", "-c", 'echo "$EF_ROLE"'], { env: { EF_ROLE: "worker-0" } }));
    expect(env.stdout.trim()).toBe("worker-0");
  });

  it("destroy() kills the lab's processes and removes namespaces, links and cgroups", async () => {
    const lab = await createLab({ devices: 3, bandwidthMbit: 100, cpuShare: 0.25 });
    expect(leftovers(lab.id).namespaces).toHaveLength(4);
    expect(leftovers(lab.id).cgroups).toHaveLength(1);
    // One that stops on SIGTERM, one that ignores it and must be SIGKILLed.
    const polite = lab.exec(0, ["sleep", "60"]);
    const stubborn = lab.exec("hub", ["sh", "-c", "trap '' TERM; sleep 60 & wait"]);
    await new Promise((r) => setTimeout(r, 200));

    await lab.destroy(300);
    await Promise.all([exited(polite), exited(stubborn)]);
    expect(polite.signalCode).toBe("SIGTERM");
    expect(stubborn.signalCode).toBe("SIGKILL");
    expect(leftovers(lab.id)).toEqual(NOTHING);
    expect(() => lab.exec(0, ["true"])).toThrow(LabError);
  });

  it("undoes a half-built lab when a step fails, and reports that step", async () => {
    // Fail at device 1's first tc command: the hub, device 0 and device 1's namespace exist by then.
    const failing: Runner = (argv) =>
      argv[0] === "tc" && argv.includes("eth0") && argv[2]!.endsWith("-d1")
        ? run([...argv.slice(0, -1), "bogus"])
        : run(argv);
    const err = await createLab({ devices: 3, bandwidthMbit: 100 }, { run: failing }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabError);
    expect((err as LabError).message).toMatch(
      /`tc -n efnetns-\d+-[0-9a-f]{6}-d1 qdisc add dev eth0 root tbf .* latency bogus` exited 1/,
    );
    const labId = /(efnetns-\d+-[0-9a-f]{6})/.exec((err as LabError).message)![1]!;
    expect(leftovers(labId)).toEqual(NOTHING);
  });

  it("refuses bad options before creating anything", async () => {
    await expect(createLab({ devices: 0, bandwidthMbit: 100 })).rejects.toThrow(/devices/);
    await expect(createLab({ devices: 2, bandwidthMbit: [100] })).rejects.toThrow(/1 values for 2 devices/);
    await expect(createLab({ devices: 2, bandwidthMbit: 100, subnet: "8.8.8.0/24" })).rejects.toThrow(/private/);
    expect(leftovers(PREFIX)).toEqual(NOTHING);
  });

  it("tears labs down on SIGTERM", async () => {
    const lab = await createLab({ devices: 1, bandwidthMbit: 100 });
    const child = lab.exec(0, ["sleep", "60"]);
    // Another listener keeps this test process alive; the lab's handler still runs first.
    const keepAlive = (): void => {};
    process.on("SIGTERM", keepAlive);
    try {
      process.emit("SIGTERM", "SIGTERM");
    } finally {
      process.off("SIGTERM", keepAlive);
    }
    await exited(child);
    expect(leftovers(lab.id)).toEqual(NOTHING);
  });

  it("cleanupStale removes the leftovers of a dead owner and leaves live labs alone", async () => {
    const prefix = "efstale";
    const live = await createStaleTestLab({ devices: 1, bandwidthMbit: 100 });
    // A lab whose owner has died: namespaces, a cgroup pair and a process still running inside.
    const deadPid = spawnSync("true").pid!;
    const stale = `${prefix}-${deadPid}-abc123`;
    for (const ns of [`${stale}-hub`, `${stale}-d0`]) await run(["ip", "netns", "add", ns]);
    await run(["mkdir", "-p", `${CPU_CGROUP_ROOT}/${stale}/d0`]);
    await run([
      "sh",
      "-c",
      `echo $$ > ${CPU_CGROUP_ROOT}/${stale}/d0/cgroup.procs && exec ip netns exec ${stale}-d0 sleep 60 >/dev/null 2>&1 &`,
    ]);
    await new Promise((r) => setTimeout(r, 200));
    expect(leftovers(stale).namespaces).toHaveLength(2);

    expect(cleanupStale(prefix)).toEqual([stale]);
    expect(leftovers(stale)).toEqual(NOTHING);
    expect(leftovers(live.id).namespaces).toHaveLength(2);
    expect(existsSync(labCgroup(live.id))).toBe(true);
  });
});

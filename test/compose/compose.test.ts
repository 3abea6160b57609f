/**
 * The container stack on a real engine: the image built from the Dockerfile,
 * compose.yaml's broker and two worker devices at 100 mbit, each device shaping its
 * own link in docker/device-start.sh. The devices serve rate probes instead of
 * running the worker actor (net-probe.override.yaml), so everything but the actors
 * is checked: build, entry point, tc both ways, CPU limit, healthchecks, the rate a
 * TCP stream really gets, the one-shot weights service and its volume, and
 * inference in the image. The full experiment is in detections.pending.ts.
 *
 * Needs a container engine (npm test starts one: test/setup/services.sh).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StartedTestContainer } from "testcontainers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NetProbeReport } from "../../cli/commands/net-probe.js";
import { edgefuse } from "../cli.js";
import { addressOf, ROOT, startStack, STACK_START_TIMEOUT_MS, type Stack } from "./stack.js";

const DEVICES = 2;
const MBIT = 100;
/** tbf passes 95-96 % of the set rate as TCP payload; 10 % is the lab's tolerance too. */
const TOLERANCE = 0.1;
const devices = Array.from({ length: DEVICES }, (_, i) => i + 1);
const MODEL = "yolov2-tiny";

describe("container stack: shaped device links", () => {
  let stack: Stack | undefined;
  const device = (n: number) => stack!.container("worker", n);

  beforeAll(async () => {
    stack = await startStack({
      prefix: "edgefuse-net",
      files: ["compose.yaml", "test/compose/net-probe.override.yaml"],
      services: ["broker", "worker", "weights"],
      // yolov2-tiny: the weights service's job is the same for every model, and 45 MB is quick.
      env: { WORKERS: String(DEVICES), BANDWIDTH: `${MBIT}mbit`, CPUS: "1", MODEL, SEED: "1" },
      healthy: [
        ["broker", 1],
        ["worker", DEVICES],
      ],
      oneShot: ["weights"],
    });
  }, STACK_START_TIMEOUT_MS);

  afterAll(async () => {
    await stack?.down();
  }, 120_000);

  it("shapes each device's link both ways: tbf on eth0, ingress redirected to tbf on ifb0", async () => {
    for (const n of devices) {
      const qdiscs = await stack!.run("worker", ["tc", "qdisc", "show"], n);
      expect(qdiscs, `device ${n}`).toMatch(new RegExp(`qdisc tbf \\S+ dev eth0 root .*rate ${MBIT}Mbit`));
      expect(qdiscs, `device ${n}`).toMatch(new RegExp(`qdisc tbf \\S+ dev ifb0 root .*rate ${MBIT}Mbit`));
      expect(qdiscs, `device ${n}`).toMatch(/qdisc ingress ffff: dev eth0/);
      const filters = await stack!.run("worker", ["tc", "filter", "show", "dev", "eth0", "parent", "ffff:"], n);
      expect(filters, `device ${n}`).toMatch(/mirred \(Egress Redirect to device ifb0\)/);
      expect(await logsSoFar(device(n)), `device ${n}`).toContain(`eth0 shaped to ${MBIT}mbit both ways`);
    }
    // The broker is the hub, not a device: its link stays as the engine made it.
    expect(await stack!.run("broker", ["tc", "qdisc", "show", "dev", "eth0"])).not.toContain("tbf");
  });

  it("limits each device to CPUS cores", async () => {
    for (const n of devices) {
      // cgroup v2 names quota and period in cpu.max; v1 in two files.
      const quota = await stack!.run(
        "worker",
        [
          "sh",
          "-c",
          "cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)",
        ],
        n,
      );
      const [max, period] = quota.trim().split(/\s+/).map(Number);
      expect(max! / period!, `device ${n}: ${quota.trim()}`).toBe(1);
    }
  });

  it(`carries ${MBIT} mbit within 10 % between each device and the broker's host, both ways`, async () => {
    const lines: string[] = [];
    const failures: string[] = [];
    // One device at a time: the measurements would otherwise share this machine's CPUs.
    for (const n of devices) {
      const out = await stack!.run("broker", [
        "edgefuse",
        "net-probe",
        "measure",
        addressOf(device(n)),
        "--json",
        "--warmup-ms",
        "500",
        "--duration-ms",
        "2000",
      ]);
      const report = JSON.parse(out) as NetProbeReport;
      for (const [label, rate] of [
        [`broker → device ${n}`, report.upload.mbit],
        [`device ${n} → broker`, report.download.mbit],
      ] as const) {
        const line = `${label}: ${rate.toFixed(1)} Mbit/s of ${MBIT}`;
        lines.push(line);
        if (!(Math.abs(rate / MBIT - 1) <= TOLERANCE)) failures.push(line);
      }
    }
    console.log(`measured in containers (tbf ${MBIT}mbit):\n  ${lines.join("\n  ")}`);
    expect(failures, lines.join("\n")).toEqual([]);
  });

  it("generates synthetic weights into the volume, and a device computes exactly what this machine does with them", async () => {
    const weights = `/weights/${MODEL}-s1.weights`;
    const tmp = mkdtempSync(join(tmpdir(), "edgefuse-compose-"));
    const local = join(tmp, `${MODEL}-s1.weights`);
    try {
      const written = await edgefuse([
        "weights",
        "--cfg",
        join(ROOT, `models/cfg/${MODEL}.cfg`),
        "--seed",
        "1",
        "--out",
        local,
      ]);
      expect(written.code, written.stderr).toBe(0);
      // Same cfg and seed: the same bytes, in the volume as here.
      const [remoteSum] = (await stack!.run("worker", ["sha256sum", weights])).split(/\s+/);
      expect(remoteSum).toBe(createHash("sha256").update(readFileSync(local)).digest("hex"));

      // A low threshold, so the comparison covers a dozen detections rather than one.
      // (in the image, paths are relative to /app, the package root)
      const args = (root: string, w: string) => [
        "run",
        "--cfg",
        join(root, `models/cfg/${MODEL}.cfg`),
        "--weights",
        w,
        "--image",
        join(root, "models/images/dog.jpg"),
        "--json",
        "--thresh",
        "0.05",
      ];
      const inContainer = JSON.parse(await stack!.run("worker", ["edgefuse", ...args("/app", weights)])) as {
        detections: unknown[];
      };
      const here = await edgefuse(args(ROOT, local));
      expect(here.code, here.stderr).toBe(0);
      const onHost = JSON.parse(here.stdout) as { detections: unknown[] };
      expect(onHost.detections.length).toBeGreaterThan(1);
      expect(inContainer.detections).toEqual(onHost.detections);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("re-running the start-up script re-shapes in place, and says why DELAY is ignored without netem", async () => {
    const out = await stack!.run("worker", ["env", `BANDWIDTH=${MBIT}mbit`, "DELAY=20ms", "device-start", "--help"], 1);
    const qdiscs = await stack!.run("worker", ["tc", "qdisc", "show", "dev", "eth0"], 1);
    if (out.includes("IGNORED")) {
      expect(out).toContain("DELAY=20ms is IGNORED: this kernel has no netem qdisc");
    } else {
      expect(qdiscs).toMatch(/qdisc netem .*delay 20ms/); // a kernel with netem applies it
    }
    expect(qdiscs).toMatch(new RegExp(`tbf .*rate ${MBIT}Mbit`));
    // Still exactly one redirect: a restarted device must not stack filters.
    const filters = await stack!.run("worker", ["tc", "filter", "show", "dev", "eth0", "parent", "ffff:"], 1);
    expect(filters.match(/mirred/g)).toHaveLength(1);
    expect(out).toContain("usage: edgefuse <command>"); // and then it runs edgefuse with the arguments
  });

  it("stops with a clear message when the link cannot be shaped", async () => {
    // The broker container has no NET_ADMIN: tc is refused.
    const refused = await stack!.container("broker").exec(["env", `BANDWIDTH=${MBIT}mbit`, "device-start", "--help"]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`device-start: cannot shape eth0 to ${MBIT}mbit`);
    expect(refused.stderr).toContain("cap_add: [NET_ADMIN]");
    expect(refused.stdout).not.toContain("usage: edgefuse"); // edgefuse never started

    const bad = await device(1).exec(["env", "BANDWIDTH=fast", "device-start", "--help"]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain("device-start: bad BANDWIDTH: bad rate 'fast'");
  });
});

/** What a running container has logged so far (its log stream follows, so stop reading after a quiet second). */
async function logsSoFar(container: StartedTestContainer): Promise<string> {
  const stream = await container.logs();
  let out = "";
  await new Promise<void>((resolve) => {
    let quiet = setTimeout(resolve, 1000);
    stream.on("data", (chunk: Buffer | string) => {
      out += chunk.toString();
      clearTimeout(quiet);
      quiet = setTimeout(resolve, 1000);
    });
    stream.on("end", resolve);
  });
  stream.destroy();
  return out;
}

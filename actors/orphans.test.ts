/**
 * `edgefuse up` killed outright — SIGKILL, as the out-of-memory killer does, so no exit
 * handler of its own runs — leaves no worker process behind: each hears the channel to
 * its parent close (parent-link.ts) and exits.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort, useTeardown } from "../test/brokers.js";
import { startEdgefuse } from "../test/cli.js";
import { cfgPath, readOracle } from "../test/fixtures.js";

const teardown = useTeardown();
const mini = readOracle("yolov2-mini-s7-dog");

/** procps' ps: the processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const ps = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" });
  return ps.stdout.split("\n").flatMap((line) => (line.trim() ? [Number(line.trim())] : []));
}

/**
 * Whether `pid` still runs. An orphan's exit is reaped by whatever adopts it, and an
 * init that reaps nothing (some containers' pid 1) leaves it a zombie: that has exited.
 */
function running(pid: number): boolean {
  const ps = spawnSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" });
  const state = ps.stdout.trim();
  return ps.status === 0 && state !== "" && !state.startsWith("Z");
}

describe("edgefuse up killed with SIGKILL", () => {
  it("leaves none of its worker processes running", async () => {
    const port = await freePort();
    const up = startEdgefuse([
      "up",
      "--devices",
      "3",
      "--port",
      String(port),
      "--cfg",
      cfgPath("yolov2-mini"),
      "--weights",
      join(mini.dir, mini.weights),
    ]);
    let workers: number[] = [];
    teardown.add(() => {
      // A failing run leaves nothing behind either.
      if (up.child.exitCode === null && up.child.signalCode === null) up.child.kill("SIGKILL");
      for (const pid of workers.filter(running)) process.kill(pid, "SIGKILL");
    });
    await up.waitFor(/ready: try/, 120_000);
    workers = childrenOf(up.child.pid!);
    expect(workers).toHaveLength(2); // worker-1 and worker-2; the source runs in up itself
    expect(workers.filter(running)).toEqual(workers);

    // "exit", not "close": the workers hold up's stdout (they inherit it) for as long as they run.
    const killed = new Promise<NodeJS.Signals | null>((resolve) =>
      up.child.once("exit", (_code, signal) => resolve(signal)),
    );
    up.child.kill("SIGKILL");
    expect(await killed).toBe("SIGKILL");
    // A bound for the test to end, well above the workers' grace to stop (PARENT_GONE_GRACE_MS).
    const deadline = Date.now() + 15_000;
    while (workers.some(running) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(workers.filter(running)).toEqual([]);
  });
});

/**
 * The chaos run on a real Mosquitto: about a minute of yolov2-mini (seeded synthetic
 * weights) on three devices, each its own process, while workers are SIGKILLed and the
 * broker is killed and started again on its port. Every request must end in exactly one
 * result or one error, and the deployment must serve again within 30 s of the last fault.
 * Also the run's own bookkeeping, which decides that verdict: the fault schedule a seed
 * names, and the ledger telling a missing, a late and a second answer apart.
 *
 * Seed 5 restarts the broker once, early, then kills workers five times. An outcome the
 * source has while the broker is down is held until its connection has been back 3 s
 * (actors/runtime/report.ts publishAnswer), so a client that reconnects with it hears it;
 * `edgefuse chaos --seed 2 --duration 90 --fault-every 5`, where a job stalled by one
 * restart times out during the next, used to lose that outcome and now ends every request
 * once (actors/recovery-outage.test.ts pins the case down).
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CACHE_DIR } from "../../core/paths.js";
import { loadNetwork } from "../../dnn/network.js";
import { cachedSyntheticWeights } from "../../dnn/synthetic.js";
import { edgefuse } from "../../test/cli.js";
import { cfgPath } from "../../test/fixtures.js";
import { Ledger } from "./ledger.js";
import type { ChaosReport } from "./report.js";
import { faultSchedule } from "./schedule.js";

describe("the fault schedule", () => {
  const options = { seed: 7, durationMs: 60_000, meanGapMs: 8_000, workerIds: ["worker-1", "worker-2"] };

  it("is the same for a seed, kills both kinds early, and keeps every fault inside the run, one at a time", () => {
    const faults = faultSchedule(options);
    expect(faultSchedule(options)).toEqual(faults);
    expect(faultSchedule({ ...options, seed: 8 })).not.toEqual(faults);
    expect(new Set(faults.slice(0, 2).map((f) => f.kind))).toEqual(new Set(["kill-worker", "restart-broker"]));
    for (const [i, f] of faults.entries()) {
      expect(f.atMs + f.downMs).toBeLessThanOrEqual(options.durationMs);
      if (i > 0) expect(f.atMs).toBeGreaterThan(faults[i - 1]!.atMs + faults[i - 1]!.downMs);
      if (f.kind === "kill-worker") expect(options.workerIds).toContain(f.workerId);
    }
  });
});

describe("the ledger", () => {
  it("tells one answer from none, a late one and a second one", () => {
    const ledger = new Ledger(1_000);
    for (const id of ["once", "never", "late", "twice"]) ledger.sent(id, 0, 0);
    ledger.answered("once", { kind: "result", atMs: 200, planId: "p" });
    ledger.answered("late", { kind: "error", atMs: 1_500, code: "timeout", message: "m" });
    ledger.answered("twice", { kind: "result", atMs: 300, planId: "p" });
    ledger.answered("twice", { kind: "error", atMs: 400, code: "timeout", message: "m" });
    ledger.answered("stranger", { kind: "result", atMs: 100, planId: "p" });
    const verdicts = (now: number) => Object.fromEntries(ledger.all().map((r) => [r.id, ledger.verdict(r, now)]));
    expect(verdicts(500)).toEqual({ once: "result", never: "waiting", late: "late", twice: "duplicate" });
    expect(verdicts(1_000)).toMatchObject({ never: "none" });
    expect(ledger.outstanding(500).map((r) => r.id)).toEqual(["never"]);
    expect(ledger.strays.map((s) => s.id)).toEqual(["stranger"]);
    expect(ledger.firstResultSentFrom(0)?.record.id).toBe("once");
  });
});

describe("edgefuse chaos on Mosquitto", () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("a minute of worker kills and broker restarts: every request ends once, and it serves again", async () => {
    dir = await mkdtemp(join(tmpdir(), "edgefuse-chaos-test-"));
    const logs = join(dir, "processes.log");
    const cfg = cfgPath("yolov2-mini");
    const weights = cachedSyntheticWeights(loadNetwork(cfg), 1, CACHE_DIR).path;
    const run = await edgefuse(
      ["chaos", "--cfg", cfg, "--weights", weights, "--devices", "3", "--seed", "5"].concat([
        "--duration",
        "60",
        "--fault-every",
        "8",
        "--json",
        "--logs",
        logs,
      ]),
      { timeoutMs: 290_000 },
    );
    const tail = existsSync(logs) ? readFileSync(logs, "utf8").split("\n").slice(-60).join("\n") : "(no log)";
    const context = `${run.stderr}\nlast process lines:\n${tail}`;
    expect(run.stdout, context).toMatch(/^\{/);
    const report = JSON.parse(run.stdout) as ChaosReport;
    expect(report.problems, context).toEqual([]);
    expect(run.code, context).toBe(0);

    expect(report.counts.none).toBe(0);
    expect(report.counts.duplicate).toBe(0);
    expect(report.counts.late).toBe(0);
    expect(report.counts.result + report.counts.error).toBe(report.counts.sent);
    for (const r of report.requests) expect(r.outcomes, r.id).toHaveLength(1);
    expect(new Set(report.faults.map((f) => f.kind))).toEqual(new Set(["kill-worker", "restart-broker"]));
    // Served before and after the faults, not only errors.
    expect(report.requests.filter((r) => r.afterFault === 0 && r.verdict === "result").length).toBeGreaterThan(0);
    expect(report.recovery.afterMs).not.toBeNull();
    expect(report.recovery.afterMs!).toBeLessThanOrEqual(30_000);
  }, 300_000);
});

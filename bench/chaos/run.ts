/**
 * One chaos run: a deployment on a real Mosquitto (chaos/deployment.ts), a steady stream
 * of requests through it (chaos/client.ts), and faults at the seeded times of
 * chaos/schedule.ts — workers SIGKILLed and started again, the broker killed and started
 * again on its port. It holds the deployment to three things: every request ends in
 * exactly one result or one error before its deadline, none is answered twice, and a
 * request is served again within recoveryLimitMs of the last fault.
 */
import { EdgefuseError } from "../../core/errors.js";
import { connectChaosClient, type ChaosClient } from "./client.js";
import { startChaosDeployment, type ChaosDeployment } from "./deployment.js";
import { Ledger } from "./ledger.js";
import { type RestartableBroker, startRestartableMosquitto } from "./mosquitto.js";
import type { LineSink } from "./processes.js";
import { type ChaosReport, type FaultRecord, makeReport, progressLine } from "./report.js";
import { type Fault, faultSchedule, faultText } from "./schedule.js";

export interface ChaosOptions {
  readonly cfg: string;
  readonly weights: string;
  /** Devices in all: the source and devices − 1 workers. */
  readonly devices: number;
  readonly seed: number;
  /** Faults strike within this long after the deployment first serves. */
  readonly durationMs: number;
  /** The mean quiet time between faults. */
  readonly meanGapMs: number;
  /** One request every this long, while the client may send. */
  readonly intervalMs: number;
  /** How long a request may wait for its outcome. */
  readonly deadlineMs: number;
  /** The source's own deadline for a job. */
  readonly jobTimeoutMs: number;
  /** No new request while this many wait for theirs: the source runs one at a time. */
  readonly maxOutstanding: number;
  /** Mosquitto's port (0 = a free one). */
  readonly port: number;
  readonly image: Buffer;
  /** The deployment must serve its first request within this long of starting. */
  readonly startupTimeoutMs: number;
  /** After the last fault it must serve again within this long. */
  readonly recoveryLimitMs: number;
  /** Progress lines while it runs. */
  readonly progress: (line: string) => void;
  /** Every process's output, line by line. */
  readonly log: LineSink;
}

export const chaosDefaults = {
  devices: 3,
  seed: 1,
  durationMs: 120_000,
  meanGapMs: 10_000,
  intervalMs: 1_000,
  // The source waits up to 60 s for a ready plan, then runs the job within its timeout.
  deadlineMs: 90_000,
  jobTimeoutMs: 10_000,
  maxOutstanding: 4,
  port: 0,
  startupTimeoutMs: 120_000,
  recoveryLimitMs: 30_000,
} satisfies Partial<ChaosOptions>;

/** After the last request is settled, answers are still listened for this long: a late second answer is a duplicate. */
const LINGER_MS = 2_000;
const PROGRESS_EVERY_MS = 5_000;
const DEPLOYMENT = "chaos";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const started = performance.now();
  const clock = () => performance.now() - started;
  const broker = await startRestartableMosquitto({ port: o.port, log: o.log });
  try {
    o.progress(`Mosquitto on ${broker.url}; starting the planner, the source and ${o.devices - 1} workers`);
    const deployment = startChaosDeployment({
      brokerUrl: broker.url,
      deployment: DEPLOYMENT,
      cfg: o.cfg,
      weights: o.weights,
      devices: o.devices,
      jobTimeoutMs: o.jobTimeoutMs,
      log: o.log,
    });
    try {
      const ledger = new Ledger(o.deadlineMs);
      const client = await connectChaosClient({
        brokerUrl: broker.url,
        deployment: DEPLOYMENT,
        clientId: `chaos-client-${o.seed}`,
        ledger,
        clock,
        log: o.log,
      });
      try {
        return await attack({ o, clock, broker, deployment, ledger, client });
      } finally {
        await client.close();
      }
    } finally {
      o.progress("stopping the deployment");
      await deployment.stop();
    }
  } finally {
    await broker.close();
  }
}

interface Run {
  readonly o: ChaosOptions;
  readonly clock: () => number;
  readonly broker: RestartableBroker;
  readonly deployment: ChaosDeployment;
  readonly ledger: Ledger;
  readonly client: ChaosClient;
}

/** The stream of requests, the faults at their times, the wait for recovery and for every outcome. */
async function attack(run: Run): Promise<ChaosReport> {
  const { o, clock, ledger } = run;
  const stream = startStream(run);
  const ticker = setInterval(() => o.progress(progressLine(clock(), ledger, stream.skipped)), PROGRESS_EVERY_MS);
  try {
    const servingMs = await firstServed(run);
    o.progress(
      `${(servingMs / 1000).toFixed(1)} s: the deployment serves; faults from now on for ${o.durationMs / 1000} s`,
    );
    const schedule = faultSchedule({
      seed: o.seed,
      durationMs: o.durationMs,
      meanGapMs: o.meanGapMs,
      workerIds: run.deployment.workerIds,
    });
    const faults: FaultRecord[] = [];
    for (const fault of schedule) {
      await sleep(servingMs + fault.atMs - clock());
      stream.afterFault = fault.index;
      faults.push(await strike(run, fault, schedule.length));
    }
    const lastEndMs = faults.at(-1)?.endedMs ?? servingMs;
    while (
      clock() < servingMs + o.durationMs ||
      (!ledger.firstResultSentFrom(lastEndMs) && clock() < lastEndMs + o.recoveryLimitMs)
    )
      await sleep(100);
    stream.stop();
    o.progress(`${(clock() / 1000).toFixed(1)} s: no more requests; waiting for every outstanding one's outcome`);
    while (ledger.outstanding(clock()).length > 0) await sleep(100);
    await sleep(LINGER_MS);
    return makeReport({ options: o, ledger, nowMs: clock(), servingMs, faults, skipped: stream.skipped });
  } finally {
    stream.stop();
    clearInterval(ticker);
  }
}

/** One request every intervalMs while the client may send and fewer than maxOutstanding wait; the ticks it could not send, by reason. */
function startStream(run: Run) {
  const { o, clock, ledger, client } = run;
  const skipped = new Map<string, number>();
  let sent = 0;
  const state = {
    skipped,
    /** The fault in force or last struck: what a request sent now is filed under. */
    afterFault: 0,
    stop: () => clearInterval(timer),
  };
  const tick = () => {
    const full = ledger.outstanding(clock()).length >= o.maxOutstanding;
    const why = client.whyNot ?? (full ? `${o.maxOutstanding} requests waiting for their outcome` : null);
    if (why !== null) return void skipped.set(why, (skipped.get(why) ?? 0) + 1);
    client.send(`chaos-${o.seed}-${String(++sent).padStart(4, "0")}`, o.image, state.afterFault);
  };
  const timer = setInterval(tick, o.intervalMs);
  tick();
  return state;
}

/** When the first result came (ms from the start); fails when none comes within startupTimeoutMs. */
async function firstServed(run: Run): Promise<number> {
  const { o, clock, ledger } = run;
  for (;;) {
    const first = ledger.firstResultSentFrom(0);
    if (first) return first.atMs;
    if (clock() > o.startupTimeoutMs)
      throw new EdgefuseError(
        "not-ready",
        `the deployment served no request within ${o.startupTimeoutMs / 1000} s of starting (${run.client.whyNot ?? `${ledger.all().length} sent, none answered with a result`})`,
      );
    await sleep(100);
  }
}

/** Kills what the fault names, waits its down time, starts it again. */
async function strike(run: Run, fault: Fault, count: number): Promise<FaultRecord> {
  const { o, clock } = run;
  const startedMs = clock();
  o.progress(`${(startedMs / 1000).toFixed(1)} s: fault ${fault.index}/${count}: ${faultText(fault)}`);
  if (fault.kind === "kill-worker") {
    await run.deployment.killWorker(fault.workerId!);
    await sleep(fault.downMs);
    run.deployment.startWorker(fault.workerId!);
  } else {
    await run.broker.kill();
    await sleep(fault.downMs);
    await run.broker.start();
  }
  const endedMs = clock();
  o.progress(
    `${(endedMs / 1000).toFixed(1)} s: fault ${fault.index}/${count}: ${fault.workerId ?? "Mosquitto"} started again`,
  );
  return { ...fault, startedMs, endedMs };
}

/**
 * When the chaos run strikes and how: a list of faults drawn from a seeded RNG before
 * the run starts, so a seed names one run and a failure can be run again as it was.
 */
import { mulberry32 } from "../../dnn/synthetic.js";

export type FaultKind = "kill-worker" | "restart-broker";

export interface Fault {
  /** 1, 2, …: how the report names it. */
  readonly index: number;
  /** When it strikes, in ms from the moment the deployment first served a request. */
  readonly atMs: number;
  readonly kind: FaultKind;
  /** The worker SIGKILLed (kill-worker only), e.g. `worker-2`. */
  readonly workerId?: string;
  /** How long the worker or the broker stays down before it is started again. */
  readonly downMs: number;
}

export interface ScheduleOptions {
  readonly seed: number;
  /** Faults strike within this long, each started and ended inside it. */
  readonly durationMs: number;
  /** The mean quiet time between one fault's end and the next one's start. */
  readonly meanGapMs: number;
  /** The ids of the workers that may be killed. */
  readonly workerIds: readonly string[];
}

/** The broker is restarted in about one fault out of three; the rest kill a worker. */
const BROKER_SHARE = 1 / 3;
const DOWN_MS = { "kill-worker": [500, 4_000], "restart-broker": [500, 3_000] } as const;

/**
 * The faults of one run, in time order and never overlapping. The first two are one of
 * each kind (in a random order) so that even a short run sees both; after them each
 * kind is drawn. The first strikes after one gap, so requests are served before it.
 */
export function faultSchedule(o: ScheduleOptions): Fault[] {
  const random = mulberry32(o.seed);
  const between = (lo: number, hi: number) => lo + (hi - lo) * random();
  const firstKinds: FaultKind[] =
    random() < 0.5 ? ["kill-worker", "restart-broker"] : ["restart-broker", "kill-worker"];
  const faults: Fault[] = [];
  let at = between(0.5, 1.5) * o.meanGapMs;
  for (;;) {
    const drawn: FaultKind = random() < BROKER_SHARE ? "restart-broker" : "kill-worker";
    const kind: FaultKind = o.workerIds.length === 0 ? "restart-broker" : (firstKinds[faults.length] ?? drawn);
    const [lo, hi] = DOWN_MS[kind];
    const downMs = Math.round(between(lo, hi));
    const workerId = o.workerIds[Math.floor(random() * o.workerIds.length)];
    if (at + downMs > o.durationMs) break;
    faults.push({
      index: faults.length + 1,
      atMs: Math.round(at),
      kind,
      ...(kind === "kill-worker" ? { workerId } : {}),
      downMs,
    });
    at += downMs + between(0.5, 1.5) * o.meanGapMs;
  }
  return faults;
}

/** "SIGKILL worker-2, started again after 2.1 s" / "Mosquitto killed, started again after 1.3 s". */
export function faultText(f: Fault): string {
  const down = `started again after ${(f.downMs / 1000).toFixed(1)} s`;
  return f.kind === "kill-worker" ? `SIGKILL ${f.workerId}, ${down}` : `Mosquitto SIGKILLed, ${down} on the same port`;
}

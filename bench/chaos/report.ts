/**
 * What a chaos run found: per fault, every request sent while it was in force or after it
 * (until the next), with what became of it; the counts; how long the deployment took to
 * serve again after the last fault; and the problems that fail the run.
 */
import { Ledger, type Outcome, type RequestRecord, type Verdict } from "./ledger.js";
import type { Fault } from "./schedule.js";
import { faultText } from "./schedule.js";

/** A fault as it happened: when it struck and when what it killed was started again (ms from the run's start). */
export interface FaultRecord extends Fault {
  readonly startedMs: number;
  readonly endedMs: number;
}

export interface RequestReport extends RequestRecord {
  readonly verdict: Verdict;
}

export interface ChaosReport {
  readonly seed: number;
  readonly devices: number;
  readonly durationMs: number;
  readonly deadlineMs: number;
  /** When the deployment first served a request, ms from the run's start. */
  readonly servingMs: number;
  readonly faults: readonly FaultRecord[];
  readonly requests: readonly RequestReport[];
  readonly counts: Record<Exclude<Verdict, "waiting">, number> & { sent: number };
  /** Errors by their code. */
  readonly errorCodes: Record<string, number>;
  /** Ticks the client sent nothing on, by why not. */
  readonly skipped: Record<string, number>;
  /** Answers for request ids this run never sent. */
  readonly strays: readonly { id: string; outcome: Outcome }[];
  /** How long after the last fault ended a request (sent after it) got a result; null when none did. */
  readonly recovery: { readonly afterMs: number | null; readonly requestId?: string; readonly limitMs: number };
  /** What fails the run; empty when it held. */
  readonly problems: readonly string[];
}

export function makeReport(o: {
  options: { seed: number; devices: number; durationMs: number; deadlineMs: number; recoveryLimitMs: number };
  ledger: Ledger;
  nowMs: number;
  servingMs: number;
  faults: readonly FaultRecord[];
  skipped: ReadonlyMap<string, number>;
}): ChaosReport {
  const { ledger, options } = o;
  const requests = ledger.all().map((r) => ({ ...r, verdict: ledger.verdict(r, o.nowMs) }));
  const counts = { sent: requests.length, result: 0, error: 0, late: 0, none: 0, duplicate: 0 };
  const errorCodes: Record<string, number> = {};
  for (const r of requests) {
    if (r.verdict !== "waiting") counts[r.verdict]++;
    const first = Ledger.first(r);
    if (r.verdict === "error" && first?.kind === "error") errorCodes[first.code] = (errorCodes[first.code] ?? 0) + 1;
  }
  const lastEndMs = o.faults.at(-1)?.endedMs ?? o.servingMs;
  const served = ledger.firstResultSentFrom(lastEndMs);
  const recovery = {
    afterMs: served ? served.atMs - lastEndMs : null,
    ...(served ? { requestId: served.record.id } : {}),
    limitMs: options.recoveryLimitMs,
  };
  const ids = (verdict: Verdict) =>
    requests
      .filter((r) => r.verdict === verdict)
      .map((r) => r.id)
      .join(", ");
  const problems = [
    counts.none &&
      `${counts.none} requests had no outcome within the ${options.deadlineMs / 1000} s deadline: ${ids("none")}`,
    counts.late && `${counts.late} requests were answered only after the deadline: ${ids("late")}`,
    counts.duplicate && `${counts.duplicate} requests had more than one outcome: ${ids("duplicate")}`,
    recovery.afterMs === null
      ? "no request sent after the last fault got a result"
      : recovery.afterMs > recovery.limitMs &&
        `served again ${(recovery.afterMs / 1000).toFixed(1)} s after the last fault, past the ${recovery.limitMs / 1000} s limit`,
  ].filter((p): p is string => typeof p === "string");
  return {
    seed: options.seed,
    devices: options.devices,
    durationMs: options.durationMs,
    deadlineMs: options.deadlineMs,
    servingMs: o.servingMs,
    faults: o.faults,
    requests,
    counts,
    errorCodes,
    skipped: Object.fromEntries(o.skipped),
    strays: ledger.strays,
    recovery,
    problems,
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** "12.0 s: 12 sent: 10 results, 1 error, 1 waiting; 3 ticks skipped" — while it runs. */
export function progressLine(nowMs: number, ledger: Ledger, skipped: ReadonlyMap<string, number>): string {
  const tally = new Map<Verdict, number>();
  for (const r of ledger.all()) {
    const v = ledger.verdict(r, nowMs);
    tally.set(v, (tally.get(v) ?? 0) + 1);
  }
  const parts = [...tally].map(([v, n]) => `${n} ${v}`).join(", ");
  const idle = [...skipped.values()].reduce((a, b) => a + b, 0);
  return `${seconds(nowMs)}: ${ledger.all().length} sent${parts ? `: ${parts}` : ""}${idle ? `; ${idle} ticks without a request (${[...skipped].map(([why, n]) => `${why}: ${n}`).join("; ")})` : ""}`;
}

function outcomeText(o: Outcome, sentMs: number): string {
  const after = `after ${Math.round(o.atMs - sentMs)} ms`;
  return o.kind === "result" ? `result ${after} (plan ${o.planId})` : `error ${o.code} ${after}: ${o.message}`;
}

function requestLine(r: RequestReport, deadlineMs: number): string {
  const head = `  ${r.id}  sent at ${seconds(r.sentMs)}  `;
  const sendProblem = r.publishError ? ` (publishing failed here: ${r.publishError})` : "";
  if (r.outcomes.length === 0) return `${head}NONE: no outcome within ${deadlineMs / 1000} s${sendProblem}`;
  const [first, ...more] = r.outcomes;
  const text = outcomeText(first!, r.sentMs);
  if (r.verdict === "late") return `${head}LATE: ${text}`;
  if (more.length === 0) return `${head}${text}`;
  return `${head}TWICE OR MORE: ${[first!, ...more].map((x) => outcomeText(x, r.sentMs)).join(" | then ")}`;
}

/** The report as people read it: per fault its requests, then the summary and the verdict. */
export function reportLines(report: ChaosReport): string[] {
  const lines: string[] = [
    `seed ${report.seed}: ${report.devices} devices, faults for ${seconds(report.durationMs)}, a request's deadline ${seconds(report.deadlineMs)}`,
  ];
  const windows = [{ index: 0, title: `before any fault (from ${seconds(report.servingMs)}, first served)` }].concat(
    report.faults.map((f) => ({
      index: f.index,
      title: `fault ${f.index} at ${seconds(f.startedMs)}: ${faultText(f)} (back at ${seconds(f.endedMs)})`,
    })),
  );
  for (const w of windows) {
    const sent = report.requests.filter((r) => r.afterFault === w.index);
    lines.push(`${w.title}: ${sent.length} requests`);
    for (const r of sent) lines.push(requestLine(r, report.deadlineMs));
  }
  const c = report.counts;
  const codes = Object.entries(report.errorCodes)
    .map(([code, n]) => `${code} ${n}`)
    .join(", ");
  const idle = Object.entries(report.skipped).map(([why, n]) => `${why}: ${n}`);
  lines.push(
    "",
    `summary: ${report.faults.length} faults, ${c.sent} requests: ${c.result} results, ${c.error} errors${codes ? ` (${codes})` : ""}, ${c.none} without an outcome, ${c.late} late, ${c.duplicate} answered more than once`,
  );
  if (idle.length) lines.push(`  ticks without a request: ${idle.join("; ")}`);
  if (report.strays.length)
    lines.push(`  answers for requests never sent: ${report.strays.map((s) => s.id).join(", ")}`);
  const { recovery } = report;
  lines.push(
    recovery.afterMs === null
      ? "recovery: no request sent after the last fault got a result"
      : `recovery: served again ${seconds(recovery.afterMs)} after the last fault ended (${recovery.requestId}; limit ${recovery.limitMs / 1000} s)`,
    report.problems.length
      ? `FAILED: ${report.problems.join("; ")}`
      : `held: every request had exactly one outcome within its deadline, and it served again within ${recovery.limitMs / 1000} s`,
  );
  return lines;
}

/**
 * Every request the chaos run sent and every answer that came back for it, by request
 * id: what the run's verdict is made of. A request must end in exactly one outcome (a
 * result on results/<id> or an error on errors/<id>) before its deadline; none is a
 * request lost or left hanging, two are a request answered twice. Answers that come
 * after the deadline are kept too, so a late second answer still counts.
 */

export type Outcome =
  | { readonly kind: "result"; readonly atMs: number; readonly planId: string }
  | { readonly kind: "error"; readonly atMs: number; readonly code: string; readonly message: string };

export interface RequestRecord {
  readonly id: string;
  /** When it was published, in ms from the run's start. */
  readonly sentMs: number;
  /** The fault in force or last struck when it was sent (0: before the first one). */
  readonly afterFault: number;
  readonly outcomes: Outcome[];
  /** Set when publishing it failed on this side (it may still have reached the broker). */
  publishError?: string;
}

/** What became of one request, for the report. */
export type Verdict = "result" | "error" | "late" | "none" | "duplicate" | "waiting";

export class Ledger {
  private readonly records = new Map<string, RequestRecord>();
  /** Answers for ids this run never sent (another client's, or a garbled id). */
  readonly strays: { id: string; outcome: Outcome }[] = [];

  constructor(
    /** How long a request may wait for its outcome. */
    readonly deadlineMs: number,
  ) {}

  sent(id: string, sentMs: number, afterFault: number): RequestRecord {
    const record: RequestRecord = { id, sentMs, afterFault, outcomes: [] };
    this.records.set(id, record);
    return record;
  }

  answered(id: string, outcome: Outcome): void {
    const record = this.records.get(id);
    if (record) record.outcomes.push(outcome);
    else this.strays.push({ id, outcome });
  }

  all(): RequestRecord[] {
    return [...this.records.values()];
  }

  /** Requests neither answered nor past their deadline at `nowMs`. */
  outstanding(nowMs: number): RequestRecord[] {
    return this.all().filter((r) => this.verdict(r, nowMs) === "waiting");
  }

  /**
   * The verdict at `nowMs`: an unanswered request is "waiting" until its deadline, "none"
   * after it; one answered only after its deadline is "late" (it hung as long as that).
   */
  verdict(r: RequestRecord, nowMs: number): Verdict {
    if (r.outcomes.length > 1) return "duplicate";
    const [only] = r.outcomes;
    if (only) return only.atMs - r.sentMs > this.deadlineMs ? "late" : only.kind;
    return nowMs - r.sentMs >= this.deadlineMs ? "none" : "waiting";
  }

  /** The first outcome, the one the request was settled by. */
  static first(r: RequestRecord): Outcome | undefined {
    return r.outcomes[0];
  }

  /** The first result of a request sent at or after `fromMs`: when the deployment served again. */
  firstResultSentFrom(fromMs: number): { record: RequestRecord; atMs: number } | undefined {
    let best: { record: RequestRecord; atMs: number } | undefined;
    for (const record of this.records.values()) {
      if (record.sentMs < fromMs) continue;
      const result = record.outcomes.find((o) => o.kind === "result");
      if (result && (!best || result.atMs < best.atMs)) best = { record, atMs: result.atMs };
    }
    return best;
  }
}

/**
 * What the page knows, and the rows and series it shows, as plain functions of it (no
 * DOM): the devices from their presence, the plan, the broker's counters turned into
 * rates, and the requests with their stages as they arrive.
 */
import type { ClientCounters, ErrorMessage, Plan, Presence, Result, StageTrace, Stats, TraceMessage } from "./wire.js";

/** A device that shows up in a trace stays "busy" this long after. */
const BUSY_MS = 1500;
/** Points of traffic history kept (about a minute at one a second). */
const TRAFFIC_POINTS = 60;
/** With no broker counters for this long, traffic comes from what the devices report in their traces. */
const STATS_SILENT_MS = 3000;

export interface DeviceRow {
  id: string;
  role: string;
  state: "ready" | "preparing" | "busy" | "gone";
  budgetBytes?: number;
  holdsBytes?: number;
  gmacPerSec?: number;
  uplinkBitsPerSec?: number;
  downlinkBitsPerSec?: number;
}

export interface RequestEntry {
  id: string;
  state: "running" | "done" | "failed";
  stages: StageTrace[];
  preprocessMs: number;
  result?: Result;
  error?: ErrorMessage;
  /** Its annotated image (an object URL), when the source published one naming it. */
  imageUrl?: string;
}

export interface TrafficPoint {
  at: number;
  /** Bytes per second through each client's connection, in + out. */
  rates: Record<string, number>;
}

/** Where the traffic chart's numbers come from: the embedded broker's counters, or the devices' traces (any broker). */
export type TrafficSource = "broker" | "traces";

export class ViewState {
  readonly presence = new Map<string, Presence | null>();
  private readonly lastBusy = new Map<string, number>();
  plan: Plan | null = null;
  readonly requests = new Map<string, RequestEntry>();
  selected: string | null = null;
  readonly traffic: TrafficPoint[] = [];
  private lastStats: { at: number; clients: Record<string, ClientCounters> } | null = null;
  /** Since the last traffic point made from traces: each device's bytes sent and received, as its traces say. */
  private reported: { since: number; bytes: Record<string, number> } | null = null;
  trafficSource: TrafficSource = "broker";

  /** `release`: lets go of an image URL no request holds any more (URL.revokeObjectURL in the page). */
  constructor(
    private readonly maxRequests: number,
    private readonly release: (url: string) => void = () => undefined,
  ) {}

  /** A request's annotated image; false (and the URL let go) when the request is not one the page lists. */
  attachImage(requestId: string, url: string): boolean {
    const entry = this.requests.get(requestId);
    if (!entry) {
      this.release(url);
      return false;
    }
    if (entry.imageUrl) this.release(entry.imageUrl);
    entry.imageUrl = url;
    return true;
  }

  onPresence(id: string, p: Presence | null): void {
    this.presence.set(id, p);
  }

  onPlan(plan: Plan | null): void {
    this.plan = plan;
  }

  onStats(s: Stats): void {
    this.trafficSource = "broker";
    const at = Date.parse(s.timestamp);
    const last = this.lastStats;
    this.lastStats = { at, clients: s.clients };
    if (!last || at <= last.at) return;
    const rates: Record<string, number> = {};
    for (const [id, c] of Object.entries(s.clients)) {
      const before = last.clients[id];
      const bytes = c.bytesIn + c.bytesOut - (before ? before.bytesIn + before.bytesOut : 0);
      rates[id] = Math.max(0, (bytes * 1000) / (at - last.at));
    }
    this.traffic.push({ at, rates });
    if (this.traffic.length > TRAFFIC_POINTS) this.traffic.shift();
  }

  onTrace(t: TraceMessage, now = Date.now()): void {
    this.reported ??= { since: now, bytes: {} };
    for (const d of t.stage.devices)
      this.reported.bytes[d.workerId] = (this.reported.bytes[d.workerId] ?? 0) + d.bytesSent + d.bytesReceived;
    const entry = this.entry(t.requestId);
    if (entry.state !== "running") return;
    entry.stages[t.index] = t.stage;
    if (t.preprocessMs !== undefined) entry.preprocessMs = t.preprocessMs;
    for (const d of t.stage.devices) this.lastBusy.set(d.workerId, now);
  }

  /**
   * Once a second: on a broker that publishes no counters (any but the embedded one), a
   * traffic point from the bytes the devices' traces reported since the last one.
   */
  tick(now = Date.now()): void {
    const statsAt = this.lastStats?.at ?? -Infinity;
    const reported = this.reported;
    if (now - statsAt < STATS_SILENT_MS || !reported || now <= reported.since) return;
    if (Object.keys(reported.bytes).length === 0) return;
    this.trafficSource = "traces";
    const { since, bytes } = reported;
    const rates = Object.fromEntries(Object.entries(bytes).map(([id, b]) => [id, (b * 1000) / (now - since)]));
    this.traffic.push({ at: now, rates });
    if (this.traffic.length > TRAFFIC_POINTS) this.traffic.shift();
    this.reported = { since: now, bytes: {} };
  }

  onResult(r: Result): void {
    const entry = this.entry(r.requestId);
    entry.state = "done";
    entry.result = r;
    if (r.trace) entry.stages = r.trace;
    entry.preprocessMs = r.timings.preprocessMs ?? entry.preprocessMs;
  }

  onError(e: ErrorMessage): void {
    const entry = this.entry(e.requestId);
    if (entry.state === "done") return;
    entry.state = "failed";
    entry.error = e;
  }

  /** The request's entry, made on its first message; the oldest beyond maxRequests is let go. */
  private entry(id: string): RequestEntry {
    let entry = this.requests.get(id);
    if (entry) return entry;
    entry = { id, state: "running", stages: [], preprocessMs: 0 };
    this.requests.set(id, entry);
    this.selected ??= id;
    while (this.requests.size > this.maxRequests) {
      const oldest = this.requests.keys().next().value!;
      const gone = this.requests.get(oldest)?.imageUrl;
      if (gone) this.release(gone);
      this.requests.delete(oldest);
      if (this.selected === oldest) this.selected = id;
    }
    return entry;
  }

  devices(now = Date.now()): DeviceRow[] {
    return [...this.presence.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, p]) => {
        if (!p) return { id, role: "?", state: "gone" as const };
        const busy = now - (this.lastBusy.get(id) ?? -Infinity) < BUSY_MS;
        const ready = this.plan !== null && p.readyPlanId === this.plan.id;
        return {
          id,
          role: p.role ?? "worker",
          state: busy ? "busy" : ready ? "ready" : "preparing",
          ...(p.memoryBudgetBytes !== undefined && { budgetBytes: p.memoryBudgetBytes }),
          ...(p.weightBytes !== undefined && { holdsBytes: p.weightBytes }),
          ...(p.gmacPerSec !== undefined && { gmacPerSec: p.gmacPerSec }),
          ...(p.uplinkBitsPerSec !== undefined && { uplinkBitsPerSec: p.uplinkBitsPerSec }),
          ...(p.downlinkBitsPerSec !== undefined && { downlinkBitsPerSec: p.downlinkBitsPerSec }),
        };
      });
  }

  /** Newest first. */
  requestList(): RequestEntry[] {
    return [...this.requests.values()].reverse();
  }
}

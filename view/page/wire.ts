/**
 * What the page reads off the wire, and the few checks it makes before it shows a value:
 * the broker's ACL lets only the deployment's own parties publish these topics, and each
 * of them validates what it sends with zod (broker/messages.ts, planner/schema.ts), so
 * the page only guards against a field it does not know being absent (an older sender).
 * The types name just the fields the page shows.
 */
import type { ViewConfig } from "../config.js";

export interface Presence {
  workerId: string;
  role?: string;
  memoryBudgetBytes?: number;
  baselineBytes?: number;
  gmacPerSec?: number;
  uplinkBitsPerSec?: number;
  downlinkBitsPerSec?: number;
  readyPlanId?: string;
  weightBytes?: number;
}

export interface PlanStep {
  layer: number;
  scheme: string;
  elements?: number;
  weightsPerDevice?: number;
  parts?: { workerId: string }[];
}

export interface Plan {
  id: string;
  model: { name: string; layers: number };
  devices: { workerId: string }[];
  ftp: {
    end: number;
    grid: { rows: number; cols: number };
    elements: number;
    weights?: number;
    tiles: { workerId: string }[];
  } | null;
  steps: PlanStep[];
  cost: { elements: number; bytes: number };
  totals?: { commElements: number; commBytes: number; bytesPerElement: number };
  inputs?: { bytesPerElement: number };
  prediction?: { seconds: number; stages: { bound: string; seconds: number }[] };
}

export interface DeviceTrace {
  workerId: string;
  computeMs: number;
  bytesSent: number;
  bytesReceived: number;
}

export interface StageTrace {
  layers: [number, number];
  scheme: string;
  wallMs: number;
  devices: DeviceTrace[];
}

export interface Result {
  requestId: string;
  planId: string;
  timestamp: string;
  detections: unknown[];
  timings: { totalMs: number; preprocessMs?: number; postprocessMs?: number; queuedMs?: number };
  trace?: StageTrace[];
}

/** One stage as the source publishes it on trace/<requestId> when the stage ends. */
export interface TraceMessage {
  requestId: string;
  index: number;
  stage: StageTrace;
  preprocessMs?: number;
}

export interface ErrorMessage {
  requestId: string;
  code: string;
  message: string;
}

export interface ClientCounters {
  bytesIn: number;
  bytesOut: number;
}

export interface Stats {
  timestamp: string;
  clients: Record<string, ClientCounters>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** The message as `T` when it is an object with each of `required` present, else null. */
export function parseJson<T>(payload: Uint8Array, required: readonly string[]): T | null {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return null;
  }
  return isObject(value) && required.every((k) => k in value) ? (value as T) : null;
}

/** A topic the page reads: its kind and its fields (`{workerId}`, `{requestId}`), from the config's levels. */
export interface ViewTopic {
  kind: string;
  fields: Record<string, string>;
  /** The chunk's index for `<topic>/c/<i>`, else null. */
  chunkIndex: number | null;
  /** The topic without the chunk suffix. */
  base: string;
}

export function parseViewTopic(config: ViewConfig, topic: string): ViewTopic | null {
  if (!topic.startsWith(config.prefix)) return null;
  let levels = topic.slice(config.prefix.length).split("/");
  let chunkIndex: number | null = null;
  const n = levels.length;
  if (n >= 3 && levels[n - 2] === "c" && /^\d+$/.test(levels[n - 1]!)) {
    chunkIndex = Number(levels[n - 1]);
    levels = levels.slice(0, n - 2);
  }
  for (const [kind, pattern] of Object.entries(config.kinds)) {
    const want = pattern!.split("/");
    if (want.length !== levels.length) continue;
    const fields: Record<string, string> = {};
    const fits = want.every((w, i) => {
      if (w.startsWith("{")) fields[w.slice(1, -1)] = levels[i]!;
      return w.startsWith("{") || w === levels[i];
    });
    if (fits) return { kind, fields, chunkIndex, base: config.prefix + levels.join("/") };
  }
  return null;
}

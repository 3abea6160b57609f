/**
 * A camera for a deployment: publishes images on infer/<id> at a steady rate, hears
 * every answer on results/+ and errors/+, and sums up what the deployment did with the
 * stream — throughput, latency percentiles, drops (errors "dropped"), refusals ("busy")
 * and other errors — for people trying a rate and for benchmarks. A request that gets
 * no answer within its deadline counts as lost, and so does one answered twice (as two
 * outcomes); neither should ever happen. The progress line shows the source's own
 * count of what runs and waits, from its retained `load` (actors/source/load.ts).
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Bus } from "../broker/bus.js";
import { decodeJson, decodeLoad, errorMessageSchema, type Load } from "../broker/messages.js";
import type { Topics } from "../broker/topics.js";

export interface StreamOptions {
  /** Frames per second offered. */
  readonly fps: number;
  readonly count: number;
  /** The frames, sent in turn. */
  readonly images: readonly Buffer[];
  /** How long after its publication a frame may still be answered. */
  readonly timeoutMs: number;
  /** A progress line now and then (stderr in the CLI). */
  readonly progress?: (line: string) => void;
  /** Called after each publication with the frames sent so far (a benchmark samples memory). */
  readonly onSent?: (sent: number) => void;
}

const count = z.number().int().nonnegative();
/** What a stream did (`edgefuse camera --json` prints it; the lab's throughput run reads it back). */
export const streamReportSchema = z.object({
  offeredFps: z.number().positive(),
  sent: count,
  results: count,
  /** Error answers by code ("dropped", "busy", "timeout", …). */
  errors: z.record(z.string(), count),
  /** No answer within the deadline. */
  unanswered: count,
  /** Answered more than once. */
  duplicates: count,
  /** Results per second, from the first publication to the last answer. */
  throughputFps: z.number().nonnegative(),
  /** Publication → result, ms; null without a result. */
  latencyMs: z.object({ p50: z.number().nullable(), p90: z.number().nullable(), p99: z.number().nullable() }),
});
export type StreamReport = Readonly<z.infer<typeof streamReportSchema>>;

/** Nearest-rank percentile (p in 0..100) of ascending `sorted`; null when it is empty. */
export const percentile = (sorted: readonly number[], p: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

export async function runStream(bus: Bus, topics: Topics, o: StreamOptions): Promise<StreamReport> {
  const run = randomUUID().slice(0, 8);
  const sentAt = new Map<string, number>();
  const answers = new Map<string, number>();
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let lastAnswer = 0;
  let allAnswered!: () => void;
  const done = new Promise<void>((r) => (allAnswered = r));
  const answered = (requestId: string) => {
    const before = answers.get(requestId);
    if (before === undefined && !sentAt.has(requestId)) return false; // not this stream's
    answers.set(requestId, (before ?? 0) + 1);
    lastAnswer = performance.now();
    if (before === undefined && answers.size === o.count) allAnswered();
    return before === undefined;
  };
  const results = await bus.subscribe(topics.filters.results(), {
    onMessage: (topic) => {
      const t = topics.parse(topic);
      if (t?.kind === "results" && answered(t.requestId)) latencies.push(performance.now() - sentAt.get(t.requestId)!);
    },
    onError: () => undefined,
  });
  const errorReports = await bus.subscribe(topics.filters.errors(), {
    onMessage: (topic, payload) => {
      const e = decodeJson(topic, payload, errorMessageSchema);
      if (answered(e.requestId)) errors[e.code] = (errors[e.code] ?? 0) + 1;
    },
    onError: () => undefined,
  });
  let load: Load | null = null;
  const loadSubscription = o.progress
    ? await bus.subscribe(topics.load(), {
        onMessage: (topic, payload) => {
          load = decodeLoad(topic, payload);
        },
        onError: () => undefined, // a malformed load only leaves the progress line without it
      })
    : undefined;
  const sourceLoad = () =>
    load ? `; source: ${load.inFlight}/${load.inFlightLimit} running, ${load.queued}/${load.queueLimit} waiting` : "";

  const started = performance.now();
  const interval = 1000 / o.fps;
  for (let i = 0; i < o.count; i++) {
    // On schedule, not after the previous publication: a slow broker shows as latency, not as a lower rate.
    const wait = started + i * interval - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const requestId = `cam-${run}-${i}`;
    sentAt.set(requestId, performance.now());
    void bus.publish(topics.infer(requestId), o.images[i % o.images.length]!).catch(() => undefined);
    o.onSent?.(i + 1);
    if (o.progress && (i + 1) % Math.max(1, Math.round(o.fps * 5)) === 0)
      o.progress(`${i + 1}/${o.count} sent, ${answers.size} answered, ${latencies.length} results${sourceLoad()}`);
  }
  const deadline = new Promise<void>((r) => setTimeout(r, o.timeoutMs).unref());
  await Promise.race([done, deadline]);
  // Any second answer to a frame comes right behind the first ones.
  await new Promise((r) => setTimeout(r, 500));
  // A bus may carry several streams one after another (a benchmark's rates).
  for (const s of [results, errorReports, loadSubscription]) await s?.unsubscribe();
  const sorted = [...latencies].sort((a, b) => a - b);
  const span = Math.max(1, (lastAnswer || performance.now()) - started) / 1000;
  return {
    offeredFps: o.fps,
    sent: o.count,
    results: latencies.length,
    errors,
    unanswered: o.count - answers.size,
    duplicates: [...answers.values()].reduce((n, k) => n + (k - 1), 0),
    throughputFps: latencies.length / span,
    latencyMs: { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99) },
  };
}

/** "40 frames at 2.0/s: 38 results (1.9/s), 2 dropped; latency p50 812 ms, p90 …". */
export function streamText(r: StreamReport): string {
  const errors = Object.entries(r.errors).map(([code, n]) => `${n} ${code}`);
  const problems = [
    ...(r.unanswered ? [`${r.unanswered} unanswered`] : []),
    ...(r.duplicates ? [`${r.duplicates} answered twice`] : []),
  ];
  const ms = (x: number | null) => (x === null ? "–" : `${x.toFixed(0)} ms`);
  return [
    `${r.sent} frames at ${r.offeredFps}/s: ${r.results} results (${r.throughputFps.toFixed(2)}/s)`,
    ...(errors.length ? [`errors: ${errors.join(", ")}`] : []),
    ...problems,
    `latency p50 ${ms(r.latencyMs.p50)}, p90 ${ms(r.latencyMs.p90)}, p99 ${ms(r.latencyMs.p99)}`,
  ].join("; ");
}

/**
 * One lab setting (topology, devices, each device's bandwidth and CPU share), several
 * plan variants, repeated requests: one record per timed request, with the plan's
 * predicted time beside the measured one, and the bytes that crossed each link beside
 * the plan's model and beside what the link could have carried.
 */
import type { InferReply, LabPlanning, PlanReply } from "./hub-protocol.js";
import type { LinkRate } from "./linkrate.js";
import { LabSession, type SessionOptions, type SessionSettings } from "./session.js";
import { errorMessage } from "../core/errors.js";

export interface LabScheme {
  readonly label: string;
  readonly planning: LabPlanning;
}

export interface ExperimentOptions extends Omit<SessionOptions, "log"> {
  readonly schemes: readonly LabScheme[];
  readonly repeats: number;
  /** Progress lines (stderr in the CLI). */
  readonly log?: (line: string) => void;
  /** Called with each record as it is made. */
  readonly onRecord?: (record: RunRecord) => void;
}

/** What a record says of its setting: the lab as it was (topology, every device's rate, share, memory) and the profile it came from. */
export interface SettingLabel extends SessionSettings {
  /** "identical" devices, or one slower in CPU and one in bandwidth (experiments/planner-check.ts). */
  readonly profile: string;
}

export interface RunRecord extends SettingLabel {
  readonly scheme: string;
  readonly strategy: LabPlanning["strategy"];
  readonly ftpEnd: LabPlanning["ftpEnd"];
  /** Absent: the planner's default. */
  readonly objective?: LabPlanning["objective"];
  readonly split?: LabPlanning["split"];
  readonly wire?: LabPlanning["wire"];
  readonly devices: number;
  /** The setting's nominal rate and share: the highest of the devices' (in a heterogeneous profile all but the slow ones have it). */
  readonly bandwidthMbit: number;
  readonly cpuShare: number;
  readonly repeat: number;
  readonly planId: string;
  /** Request published → result received, at the hub. */
  readonly latencyMs: number;
  /** The plan's own prediction of latencyMs (planner/latency.ts); null for a plan without one. */
  readonly predictedMs: number | null;
  /** The source's own timing of the request. */
  readonly sourceTotalMs: number;
  /** Socket bytes in + out of each worker's link during the request. */
  readonly linkBytes: Readonly<Record<string, number>>;
  readonly bytesBusiestLink: number;
  /** The plan's modelled C on its partitioned layers, and the job payloads measured on the workers' links for them (compareTraffic). */
  readonly modelledBytes: number;
  readonly measuredBytes: number;
  /** The plan's modelled C for the whole inference, FTP stage included. */
  readonly planCostBytes: number;
  /**
   * The critical path's compute at this CPU share: the source's decoding before the
   * first stage and interpreting after the last, plus Σ over stages of the slowest
   * device's computeMs (the trace).
   */
  readonly criticalComputeMs: number;
  /** bytesBusiestLink at the busiest link's measured rate, plus criticalComputeMs. */
  readonly lowerBoundMs: number;
  /** The source's time before the first stage (decoding, letterboxing) and after the last (region, detections), when it reports them. */
  readonly preprocessMs?: number;
  readonly postprocessMs?: number;
  /**
   * Per stage of the trace: its layers, scheme, wall time at the source and the slowest
   * device's compute (where a run's time beyond the bound goes), the bytes its tasks
   * received and sent, and how they travelled (the first remote task's dtypes, or "image").
   */
  readonly stages: readonly {
    readonly layers: readonly [number, number];
    readonly scheme: string;
    readonly wallMs: number;
    readonly computeMs: number;
    readonly inputBytes: number;
    /** What the source published for those inputs: a shared input (layerIn) once, not once per device. */
    readonly publishedBytes: number;
    readonly outputBytes: number;
    readonly wire?: { readonly input: string; readonly output: string };
    /** The plan's prediction of wallMs, and what it said bounds the stage. */
    readonly predictedMs?: number;
    readonly predictedBound?: string;
  }[];
  /** What the FTP stage's tile devices received: the tiles' input regions, or the image itself (0 without FTP). */
  readonly ftpInputBytes: number;
  /** What the source published for them: each tile's region, or the image once (with a broker of its own, what crosses the source's link). */
  readonly ftpPublishedBytes: number;
  /** Weight shards per device in the plan (source first as the plan lists them). */
  readonly weightsPerDeviceBytes: readonly number[];
  /** What the workers announced holding. */
  readonly presenceWeightBytes: readonly (number | null)[];
  /** Each link's measured rate by its name (source, w1, …, gateway), "up" and "down" (towards the switch, from it). */
  readonly measuredLinkMbit: readonly { readonly link: string; readonly up: number; readonly down: number }[];
  readonly detections: readonly unknown[];
  /** Per device (the plan's order, source first): the compute speed it announced, GMAC/s. */
  readonly deviceGmacPerSec?: readonly (number | null)[];
  /**
   * CPU time each process used during the request, ms, by name: "broker" (the broker and
   * planner: in the paper topology on the source device, under its quota), then the devices.
   */
  readonly cpuMs?: Readonly<Record<string, number>>;
}

/** The rate a lower bound assumes for a link: the slower of its measured directions; ~0.956 × set where unmeasured. */
export function linkMbit(rates: readonly LinkRate[], device: number, setMbit: number): number {
  const mine = rates.filter((r) => r.device === device).map((r) => r.mbit);
  return mine.length ? Math.min(...mine) : 0.956 * setMbit;
}

/** The trace's stages with the slowest device's compute each. */
export function stagesOf(reply: InferReply): RunRecord["stages"] {
  return (reply.result.trace ?? []).map((t) => {
    const wire = t.devices.find((d) => d.wire)?.wire;
    return {
      layers: t.layers,
      scheme: t.scheme,
      wallMs: t.wallMs,
      computeMs: Math.max(0, ...t.devices.map((d) => d.computeMs)),
      inputBytes: t.devices.reduce((n, d) => n + d.bytesReceived, 0),
      publishedBytes:
        t.devices.reduce((n, d) => n + (d.sharedInput ? 0 : d.bytesReceived), 0) +
        Math.max(0, ...t.devices.map((d) => (d.sharedInput ? d.bytesReceived : 0))),
      outputBytes: t.devices.reduce((n, d) => n + d.bytesSent, 0),
      ...(wire ? { wire } : {}),
    };
  });
}

export function criticalComputeMs(reply: InferReply): number {
  const { preprocessMs = 0, postprocessMs = 0 } = reply.result.timings;
  return stagesOf(reply).reduce((sum, stage) => sum + stage.computeMs, preprocessMs + postprocessMs);
}

type RecordSession = Pick<LabSession, "linkRates" | "bandwidthMbit" | "settings" | "measuredLinkMbit" | "linkDevice">;

/** The busiest link by bytes, and its transfer time at its measured rate. */
function busiestLink(reply: InferReply, session: RecordSession): { bytes: number; transferMs: number } {
  const busiest = Object.entries(reply.linkBytes).reduce<[string, number] | undefined>(
    (best, l) => (!best || l[1] > best[1] ? l : best),
    undefined,
  );
  if (!busiest) return { bytes: 0, transferMs: 0 };
  const mbit = linkMbit(session.linkRates, session.linkDevice(busiest[0]), session.bandwidthMbit);
  return { bytes: busiest[1], transferMs: (busiest[1] * 8) / (mbit * 1e3) };
}

const highest = (xs: readonly number[]): number => Math.max(0, ...xs);

/** Make one record from a plan and one timed request. */
export function recordOf(o: {
  scheme: LabScheme;
  plan: PlanReply;
  reply: InferReply;
  session: RecordSession;
  devices: number;
  repeat: number;
  /** Default: "identical". */
  profile?: string;
  /** CPU time per process during the request (LabSession.cpuMs before and after). */
  cpuMs?: Record<string, number>;
}): RunRecord {
  const { reply, plan, session } = o;
  // What the lab really was: topology, gateway and every device's rate, share and memory.
  const settings = session.settings;
  const busiest = busiestLink(reply, session);
  const compute = criticalComputeMs(reply);
  const { objective, split, wire } = o.scheme.planning;
  const predicted = new Map(plan.predictedStages.map((st) => [st.layers[0], st]));
  const stages = stagesOf(reply).map((st) => {
    const p = predicted.get(st.layers[0]);
    return p ? { ...st, predictedMs: p.ms, predictedBound: p.bound } : st;
  });
  const ftp = stages.find((st) => st.scheme === "FTP");
  return {
    ...settings,
    profile: o.profile ?? "identical",
    scheme: o.scheme.label,
    strategy: o.scheme.planning.strategy,
    ftpEnd: o.scheme.planning.ftpEnd,
    ...(objective ? { objective } : {}),
    ...(split ? { split } : {}),
    ...(wire ? { wire } : {}),
    devices: o.devices,
    bandwidthMbit: highest(settings.deviceBandwidthMbit) || session.bandwidthMbit,
    cpuShare: highest(settings.deviceCpuShare),
    repeat: o.repeat,
    planId: plan.planId,
    latencyMs: reply.latencyMs,
    predictedMs: plan.predictedSeconds === null ? null : plan.predictedSeconds * 1000,
    sourceTotalMs: reply.result.timings.totalMs,
    linkBytes: reply.linkBytes,
    bytesBusiestLink: busiest.bytes,
    modelledBytes: reply.modelledBytes,
    measuredBytes: reply.measuredBytes,
    planCostBytes: plan.costBytes,
    criticalComputeMs: compute,
    lowerBoundMs: busiest.transferMs + compute,
    preprocessMs: reply.result.timings.preprocessMs,
    postprocessMs: reply.result.timings.postprocessMs,
    stages,
    ftpInputBytes: ftp?.inputBytes ?? 0,
    ftpPublishedBytes: ftp?.publishedBytes ?? 0,
    weightsPerDeviceBytes: plan.shardBytes,
    presenceWeightBytes: plan.presenceWeightBytes,
    measuredLinkMbit: session.measuredLinkMbit,
    detections: reply.result.detections,
    deviceGmacPerSec: plan.deviceGmacPerSec,
    ...(o.cpuMs ? { cpuMs: o.cpuMs } : {}),
  };
}

/**
 * Each timed request starts on idle devices: the time of one request, not of a stream.
 * After a result the source still draws and encodes the annotated image, and after a
 * re-plan devices collect the old plan's buffers; on a quarter core that can take over a
 * second, and a request that started beside it decoded its image up to 2× slower. So
 * the experiment waits until no process of the deployment has used more than
 * IDLE_CPU_SHARE of a core over an IDLE_WINDOW_MS window (at most SETTLE_MAX_MS).
 */
export const IDLE_WINDOW_MS = 300;
export const IDLE_CPU_SHARE = 0.05;
export const SETTLE_MAX_MS = 15_000;

/** Resolves once every process is idle (or after SETTLE_MAX_MS: a device that never rests still gets its request). */
export async function untilIdle(session: Pick<LabSession, "cpuMs">): Promise<void> {
  const deadline = Date.now() + SETTLE_MAX_MS;
  let before = session.cpuMs();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
    const now = session.cpuMs();
    const busy = Object.entries(now).some(([name, ms]) => ms - (before[name] ?? 0) > IDLE_CPU_SHARE * IDLE_WINDOW_MS);
    if (!busy) return;
    before = now;
  }
}

/**
 * Warm-up requests before a plan's timed ones: one, or two on processes that have served
 * nothing yet. On a quarter core V8 optimises the hot code (the source's image decoding
 * above all) only by a device's third request: the first timed request after a single
 * warm-up decoded the image in ~0.9 s, the next ones in ~0.3 s.
 */
export const WARMUPS = 1;
export const COLD_WARMUPS = 2;

/** One request and the CPU time each process spent on it. */
async function timedInfer(
  session: LabSession,
  requestId: string,
): Promise<{ reply: InferReply; cpuMs: Record<string, number> }> {
  const before = session.cpuMs();
  const reply = await session.infer(requestId);
  const after = session.cpuMs();
  const cpuMs = Object.fromEntries(Object.entries(after).map(([name, ms]) => [name, ms - (before[name] ?? NaN)]));
  return { reply, cpuMs };
}

/** Every scheme on one session: plan (untimed start-up), warm-up requests, then `repeats` timed ones. */
export async function runSchemes(
  session: LabSession,
  o: Pick<ExperimentOptions, "schemes" | "repeats" | "devices" | "log" | "onRecord"> & {
    /** What the records call the devices' settings; default "identical". */
    readonly profile?: string;
    /** Called instead of failing when a variant cannot be planned or run; absent: the error propagates. */
    readonly onRefused?: (scheme: LabScheme, message: string) => void;
  },
): Promise<RunRecord[]> {
  const records: RunRecord[] = [];
  for (const scheme of o.schemes) {
    o.log?.(
      `${o.devices} devices, ${highest(session.settings.deviceBandwidthMbit)} mbit, ${scheme.label}: planning and sending shards`,
    );
    let plan: PlanReply;
    try {
      plan = await session.plan(scheme.planning);
    } catch (err) {
      // A variant the planner refuses (an FTP depth this network cannot tile, a budget) is reported, the others still run.
      if (!o.onRefused) throw err;
      o.onRefused(scheme, errorMessage(err));
      continue;
    }
    const tag = `${o.devices}d${session.bandwidthMbit}m-${plan.planId.slice(0, 6)}-${Date.now().toString(36)}`;
    const warmups = session.served === 0 ? COLD_WARMUPS : WARMUPS;
    for (let w = 1; w <= warmups; w++) await session.infer(`${tag}-warm${w}`);
    for (let repeat = 1; repeat <= o.repeats; repeat++) {
      await untilIdle(session);
      const { reply, cpuMs } = await timedInfer(session, `${tag}-${repeat}`);
      const record = recordOf({
        scheme,
        plan,
        reply,
        session,
        devices: o.devices,
        repeat,
        cpuMs,
        ...(o.profile ? { profile: o.profile } : {}),
      });
      records.push(record);
      o.onRecord?.(record);
    }
  }
  return records;
}

/** A lab for one setting, every scheme run in it, the lab removed whatever happens. */
export async function runLabExperiment(o: ExperimentOptions): Promise<RunRecord[]> {
  const session = await LabSession.open(o);
  try {
    return await runSchemes(session, o);
  } finally {
    await session.close();
  }
}

/**
 * zod schemas for the JSON messages on the wire (README, "The wire"), and decodeJson, the one way a JSON payload is read.
 *
 * Objects are parsed with zod's default (unknown keys stripped, not refused), so a
 * newer sender can add fields without breaking older readers; a missing or
 * mistyped field is an error.
 */
import { z } from "zod";
import { WireError } from "../core/errors.js";
import { ID_PATTERN, SHA256_PATTERN } from "./topics.js";

const id = z.string().regex(ID_PATTERN, "expected 1-64 of [A-Za-z0-9._:-]");
const nonNegative = z.number().nonnegative();
/** A plan's id (planner/schema.ts makes it from the plan's content): 16 lowercase hex digits. */
const planId = z.string().regex(/^[0-9a-f]{16}$/, "expected 16 lowercase hex digits");
/** A moment as ISO 8601 UTC (`new Date().toISOString()`). */
const utcTimestamp = z.iso.datetime();
/** What a device is in a deployment: "source", the device that holds the input and also computes its part of every plan, or a worker. */
const deviceRole = z.enum(["worker", "source"]);

// ---------------------------------------------------------------------------
// workers/<workerId> — retained presence; an empty payload (the last will) means gone

/**
 * Upper bounds on what a device may claim, far above any device edgefuse runs on, so
 * that a spoofed or corrupt presence cannot draw the whole network onto one claimed
 * giant (the planner gives the most work to the fastest, largest device).
 */
export const PRESENCE_LIMITS = {
  /** 16 TiB of memory. */
  bytes: 2 ** 44,
  /** 1e6 GMAC/s: a petaMAC per second, beyond any single accelerator. */
  gmacPerSec: 1e6,
  /** 1 Tbit/s. */
  bitsPerSec: 1e12,
} as const;
const bytesClaim = z.number().int().max(PRESENCE_LIMITS.bytes, "more than 16 TiB: not a real device");
const rateClaim = z.number().positive().max(PRESENCE_LIMITS.bitsPerSec, "more than 1 Tbit/s: not a real link");

export const presenceSchema = z.object({
  workerId: id,
  /**
   * The device's whole memory for edgefuse (`--memory`): the process itself (baselineBytes)
   * plus the weights and activations it may hold. The planner plans with the difference.
   */
  memoryBudgetBytes: bytesClaim.positive(),
  /**
   * Resident memory of the device's process before any shard: node, onnxruntime with a
   * first session made, the MQTT client. Absent (an older device): counted as 0.
   */
  baselineBytes: bytesClaim.nonnegative().optional(),
  /** Measured compute speed, billions of multiply-accumulates per second, sustained under the device's CPU quota. */
  gmacPerSec: z.number().positive().max(PRESENCE_LIMITS.gmacPerSec, "more than 1e6 GMAC/s: not a real device"),
  /** The device's link rates, bits per second, as given (`--uplink`, `--downlink`); absent: not limited or not known. */
  uplinkBitsPerSec: rateClaim.optional(),
  downlinkBitsPerSec: rateClaim.optional(),
  startedAt: z.iso.datetime({ offset: true }),
  /** Software version of the worker (package.json version). */
  version: z.string().min(1).max(64),
  role: deviceRole.default("worker"),
  /** The plan whose tasks this device has subscribed to and prepared: the source starts jobs only when every device is ready. */
  readyPlanId: planId.optional(),
  /** Weight bytes its prepared tasks hold in memory (observability: set beside the plan's share). */
  weightBytes: bytesClaim.nonnegative().optional(),
});
export type Presence = z.infer<typeof presenceSchema>;

// ---------------------------------------------------------------------------
// shard-requests/<deviceId> — a device asks the planner for one weight shard; the answer
// comes on devices/<deviceId>/shards/<sha256> (topics.ts)

export const shardRequestSchema = z.object({
  sha256: z.string().regex(SHA256_PATTERN, "expected 64 lowercase hex digits"),
});
export type ShardRequest = z.infer<typeof shardRequestSchema>;

// ---------------------------------------------------------------------------
// results/<requestId> — detections plus a trace of where time and bytes went

/** One device's share of one stage: compute time and link bytes. */
export const deviceTraceSchema = z.object({
  workerId: id,
  computeMs: nonNegative,
  bytesSent: nonNegative,
  bytesReceived: nonNegative,
  /** How the task's input and output travelled: a frame dtype (float32, float16, q8) or "image"; absent on the source's own device. */
  wire: z.object({ input: z.string().min(1), output: z.string().min(1) }).optional(),
  /** The input came on the stage's layerIn, published once for every device of the stage (bytesReceived counts this device's copy). */
  sharedInput: z.boolean().optional(),
});

/** One stage of the schedule: a layer or a fused run of layers. */
export const stageTraceSchema = z.object({
  /** First and last layer of the stage, inclusive. */
  layers: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
  /** Partitioning scheme, e.g. "FTP", "LOP", "LIP", "FUSE" (the planner owns the list). */
  scheme: z.string().min(1),
  wallMs: nonNegative,
  devices: z.array(deviceTraceSchema),
});

export const timingsSchema = z.object({
  /** From the request reaching the source to the result being published. */
  totalMs: nonNegative,
  preprocessMs: nonNegative.optional(),
  postprocessMs: nonNegative.optional(),
  /** How long the request waited for a slot before it ran (totalMs counts from then). */
  queuedMs: nonNegative.optional(),
});

/** The original image's size (a tensor request's width and height): what a detection's `normalized` box is a fraction of. */
export const imageSizeSchema = z.object({ width: z.number().int().positive(), height: z.number().int().positive() });
export type ImageSize = z.infer<typeof imageSizeSchema>;

/**
 * The result schema for a given detection schema. The detection shape belongs to
 * dnn/ (post-processing); until it is plugged in, detections are unknown values.
 *
 * ```ts
 * const schema = resultSchema(detectionSchema); // from dnn/detect
 * const result = decodeJson(topic, payload, schema);
 * ```
 */
export function resultSchema<D extends z.ZodType>(detection: D) {
  return z.object({
    requestId: id,
    /** The plan the request ran on. */
    planId,
    /** When the result was made. */
    timestamp: utcTimestamp,
    image: imageSizeSchema,
    /** The plan's weights are edgefuse's seeded synthetic ones: the detections are what the network computes, not objects. */
    synthetic: z.boolean().optional(),
    detections: z.array(detection),
    timings: timingsSchema,
    trace: z.array(stageTraceSchema).optional(),
  });
}

/** trace/<requestId>: one stage's trace as it ends, so a viewer's timeline grows while the request runs. */
export const traceMessageSchema = z.object({
  requestId: id,
  /** The stage's place in the result's `trace`. */
  index: z.number().int().nonnegative(),
  stage: stageTraceSchema,
  /** The source's decoding and letterboxing before the first stage: where the timeline starts. */
  preprocessMs: nonNegative.optional(),
});
export type TraceMessage = z.infer<typeof traceMessageSchema>;

export const anyResultSchema = resultSchema(z.unknown());
export type Result<D = unknown> = Omit<z.infer<typeof anyResultSchema>, "detections"> & { detections: D[] };
export type StageTrace = z.infer<typeof stageTraceSchema>;

// ---------------------------------------------------------------------------
// latest — retained: the last result in brief, what a Home Assistant sensor shows

export function latestSchema<D extends z.ZodType>(detection: D) {
  return z.object({
    requestId: id,
    planId,
    timestamp: utcTimestamp,
    image: imageSizeSchema,
    /** How many detections the last result has. */
    count: z.number().int().nonnegative(),
    /** Detections per class name, classes with none left out. */
    classes: z.record(z.string().min(1), z.number().int().positive()),
    detections: z.array(detection),
  });
}

// ---------------------------------------------------------------------------
// status — retained availability, set by the source (its last will says offline).
// The payloads are Home Assistant's defaults for payload_available / payload_not_available.

export const STATUS = { online: "online", offline: "offline" } as const;
export const statusSchema = z.enum([STATUS.online, STATUS.offline]);
export type Status = z.infer<typeof statusSchema>;

// ---------------------------------------------------------------------------
// load — retained: how busy the source is (actors/source/admission.ts, load.ts), sent as
// it changes (a few times a second at most); cleared (empty) by its last will.

/** What a request beyond a full queue meets: refused ("busy"), or the oldest waiting one dropped for it. */
export const OVERFLOW_POLICIES = ["reject", "drop-oldest"] as const;

const count = z.number().int().nonnegative();
export const loadSchema = z.object({
  /** Requests running now, and waiting for a slot. */
  inFlight: count,
  queued: count,
  /** How many may run at once now (--in-flight, or what the plan allows) and wait (--queue). */
  inFlightLimit: count,
  queueLimit: count,
  overflow: z.enum(OVERFLOW_POLICIES),
  /** Since the source started: requests refused at a full queue ("busy"), and dropped unrun for a newer one. */
  refused: count,
  dropped: count,
  timestamp: utcTimestamp,
});
export type Load = z.infer<typeof loadSchema>;

/** A retained load, or null once it is cleared (the source stopped or its will fired). */
export function decodeLoad(topic: string, payload: Uint8Array): Load | null {
  return payload.byteLength === 0 ? null : decodeJson(topic, payload, loadSchema);
}

// ---------------------------------------------------------------------------
// errors/<requestId>

export const errorOriginSchema = z.object({ role: deviceRole, deviceId: id });
export type ErrorOrigin = z.infer<typeof errorOriginSchema>;

export const errorMessageSchema = z.object({
  requestId: id,
  /** EdgefuseError.code of the failure ("wire", "shape", "plan", ...). */
  code: z.string().min(1).max(64),
  message: z.string(),
  /** Which actor and what it was doing, e.g. "worker w3: job j1 layer 12 part 2": for people to read, not for deciding. */
  where: z.string(),
  /**
   * The device that reported it: the source tells its own reports from its workers' by
   * this, never by the text of `where`. Absent in messages from older devices.
   */
  from: errorOriginSchema.optional(),
});
export type ErrorMessage = z.infer<typeof errorMessageSchema>;

// ---------------------------------------------------------------------------
// reading and writing

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a JSON payload against `schema`. Throws a WireError naming the topic and,
 * for a schema failure, the first failing field: `field timings.totalMs: expected
 * number, received string`.
 */
export function decodeJson<S extends z.ZodType>(topic: string, payload: Uint8Array, schema: S): z.output<S> {
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    throw new WireError(topic, `payload is not UTF-8 text (${payload.byteLength} bytes)`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new WireError(topic, `payload is not JSON: ${(err as Error).message}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new WireError(topic, describeIssues(result.error));
  return result.data;
}

/** Validates `value` against `schema` (a sender's bug stays on the sender) and encodes it. */
export function encodeJson<S extends z.ZodType>(schema: S, value: z.input<S>): Buffer {
  const result = schema.safeParse(value);
  if (!result.success) throw new WireError("outgoing message", describeIssues(result.error));
  return Buffer.from(JSON.stringify(result.data));
}

/** Presence is retained and cleared by an empty payload: null means "worker gone". */
export function decodePresence(topic: string, payload: Uint8Array): Presence | null {
  return payload.byteLength === 0 ? null : decodeJson(topic, payload, presenceSchema);
}

function describeIssues(error: z.ZodError): string {
  const [first, ...rest] = error.issues;
  const path = first!.path.length
    ? first!.path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i ? "." : ""}${String(p)}`)).join("")
    : "(root)";
  return `field ${path}: ${first!.message}${rest.length ? ` (and ${rest.length} more)` : ""}`;
}

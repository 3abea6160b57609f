/**
 * The one source of truth for edgefuse topics (README, "The wire"): TOPIC_TABLE says,
 * for every kind, its levels under `edgefuse/v1/<deployment>/`, who may publish and
 * read it (the embedded broker's ACL, auth.ts), and what it carries. Formatting,
 * parsing, subscription filters, the topic type and the ACL are all derived from it.
 *
 * A message too big for one packet travels as chunks on `<topic>/c/<i>` (chunking.ts).
 * A chunk gets a topic of its own so that each retained chunk survives on the broker
 * (a retained message is one per topic) and a late subscriber can rebuild the whole.
 *
 * Weight shards are never retained: a device asks for one on its `shard-requests/<id>`
 * and the planner answers on that device's own `devices/<id>/shards/<sha256>`, so a
 * shared broker keeps no megabytes of weights and a subscriber to `edgefuse/#` is not
 * handed them (planner/serve-shards.ts, actors/runtime/fetch-shard.ts).
 */
import { WireError } from "../core/errors.js";

export const TOPIC_ROOT = "edgefuse/v1";

/** Who talks on the wire. A device's role is source or worker; client is anyone sending images. */
export const ROLES = ["planner", "source", "worker", "client", "admin"] as const;
export type Role = (typeof ROLES)[number];
type Party = Exclude<Role, "admin">;

interface TopicSpec {
  /** Levels under the deployment; `{field}` is a value (ids, `layer`/`part` numbers, `sha256`). */
  readonly levels: string;
  readonly publish: readonly Party[];
  readonly read: readonly Party[];
  /** A device (source or worker role) may use this kind only with its own id in this field. */
  readonly ownId?: { readonly field: string; readonly on: "publish" | "read" };
  /** 0 for job tensors (see JOB_TENSOR_QOS), else 1. */
  readonly qos: 0 | 1;
  readonly retained: boolean;
  readonly payload: string;
}

const DEVICES = ["source", "worker"] as const;
const EVERY_DEVICE_AND_PLANNER = ["planner", "source", "worker"] as const;

export const TOPIC_TABLE = {
  infer: {
    levels: "infer/{requestId}",
    publish: ["client"],
    read: ["source"],
    qos: 1,
    retained: false,
    payload: "JPEG/PNG bytes or a tensor frame",
  },
  results: {
    levels: "results/{requestId}",
    publish: ["source"],
    read: ["client"],
    qos: 1,
    retained: false,
    payload: "JSON result (messages.ts)",
  },
  // A worker reports a task it cannot run on errors/<jobId>: the source and the client that sent the request both read it.
  errors: {
    levels: "errors/{requestId}",
    publish: DEVICES,
    read: ["source", "client"],
    qos: 1,
    retained: false,
    payload: "JSON error (messages.ts)",
  },
  // Every device reads every presence; each announces only itself.
  worker: {
    levels: "workers/{workerId}",
    publish: DEVICES,
    read: EVERY_DEVICE_AND_PLANNER,
    ownId: { field: "workerId", on: "publish" },
    qos: 1,
    retained: true,
    payload: "JSON presence, empty = gone (last will)",
  },
  plan: {
    levels: "plan",
    publish: ["planner"],
    read: EVERY_DEVICE_AND_PLANNER,
    qos: 1,
    retained: true,
    payload: "JSON plan (planner/schema.ts), empty once the planner stops",
  },
  // The source serves requests, so it alone says whether the deployment is online.
  status: {
    levels: "status",
    publish: ["source"],
    read: ["client"],
    qos: 1,
    retained: true,
    payload: "`online` / `offline` (the source's last will)",
  },
  // Beside availability, how busy the source is (admission.ts): what a camera or a dashboard shows, what a load generator reads.
  load: {
    levels: "load",
    publish: ["source"],
    read: ["client"],
    qos: 1,
    retained: true,
    payload: "JSON load (messages.ts); empty = the source is gone (last will)",
  },
  latest: {
    levels: "latest",
    publish: ["source"],
    read: ["client"],
    qos: 1,
    retained: true,
    payload: "JSON summary of the last result",
  },
  annotated: {
    levels: "annotated",
    publish: ["source"],
    read: ["client"],
    qos: 1,
    retained: true,
    payload: "JPEG of the last annotated image",
  },
  // stats: the embedded broker's own counters (stats.ts), by no party, for a viewer (auth.ts VIEWER_READS) alone.
  stats: { levels: "stats", publish: [], read: [], qos: 1, retained: false, payload: "JSON counters per client" },
  trace: {
    levels: "trace/{requestId}",
    publish: ["source"],
    read: ["client"],
    qos: 1,
    retained: false,
    payload: "JSON trace of a stage as it ends, for a timeline while it runs (messages.ts); the result repeats them",
  },
  shardRequest: {
    levels: "shard-requests/{deviceId}",
    publish: DEVICES,
    read: ["planner"],
    ownId: { field: "deviceId", on: "publish" },
    qos: 1,
    retained: false,
    payload: "JSON shard request (messages.ts)",
  },
  deviceShard: {
    levels: "devices/{deviceId}/shards/{sha256}",
    publish: ["planner"],
    read: DEVICES,
    ownId: { field: "deviceId", on: "read" },
    qos: 1,
    retained: false,
    payload: "weight shard bytes for that device, empty = not available",
  },
  layerIn: {
    levels: "job/{jobId}/layer/{layer}/in",
    publish: ["source"],
    read: ["worker"],
    qos: 0,
    retained: false,
    payload: "tensor frame (frame.ts)",
  },
  partIn: {
    levels: "job/{jobId}/layer/{layer}/part/{part}/in",
    publish: ["source"],
    read: ["worker"],
    qos: 0,
    retained: false,
    payload: "tensor frame",
  },
  partOut: {
    levels: "job/{jobId}/layer/{layer}/part/{part}/out",
    publish: ["worker"],
    read: ["source"],
    qos: 0,
    retained: false,
    payload: "tensor frame",
  },
} as const satisfies Record<string, TopicSpec>;

export type TopicKind = keyof typeof TOPIC_TABLE;
export const TOPIC_KINDS = Object.keys(TOPIC_TABLE) as TopicKind[];

/**
 * QoS 0 for `job/…` tensors. They are worth something only to the running job, which
 * fails as a whole when a device disconnects (its presence is cleared) or its deadline
 * passes, so QoS 1's redelivery after a reconnect could never save one; its price is
 * real: mqtt.js keeps a copy of every QoS 1 payload until it is acknowledged (at the
 * source, every remote task's input: about half of the 94 MB a YOLOv2 request moves at
 * 6 devices), plus an ack per chunk each way. A chunk that never arrives still ends the
 * job with a clear error (the reassembler's stall timeout, the job deadline), never a
 * wrong result (CRC-32).
 */
export const JOB_TENSOR_QOS = TOPIC_TABLE.partIn.qos;

/** The level that marks a chunk topic: `<topic>/c/<index>`. */
export const CHUNK_LEVEL = "c";

/**
 * Ids (deployment, request, worker, job): letters, digits and `._:-`, at most 64
 * characters. That keeps them free of the MQTT separators `/`, `+`, `#` and of
 * anything a shell or a file name would trip on; a UUID or a host name fits.
 */
export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
/** Layer, part and chunk numbers: canonical decimal (no leading zeros), below 2^31. */
const INDEX_PATTERN = /^(0|[1-9]\d{0,9})$/;
const MAX_INDEX = 2 ** 31 - 1;
/** A weight shard's id: its sha256, lowercase hex. */
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

// ---------------------------------------------------------------------------
// the topic type, derived from the table's levels

type FieldsOf<L extends string> = L extends `${string}{${infer F}}${infer Rest}` ? F | FieldsOf<Rest> : never;
type ArgsOf<L extends string> = L extends `${string}{${infer F}}${infer Rest}` ? [FieldValue<F>, ...ArgsOf<Rest>] : [];
type FieldValue<F extends string> = F extends "layer" | "part" ? number : string;
type LevelsOf<K extends TopicKind> = (typeof TOPIC_TABLE)[K]["levels"];
export type TopicFields<K extends TopicKind> = { [F in FieldsOf<LevelsOf<K>>]: FieldValue<F> };

/** One edgefuse topic, without its deployment, as a value. */
export type EdgefuseTopic = { [K in TopicKind]: { kind: K } & TopicFields<K> }[TopicKind];

/** A parsed topic: what it is, in which deployment, and which chunk (null = whole message). */
export type ParsedTopic = EdgefuseTopic & { deployment: string; chunkIndex: number | null };

// ---------------------------------------------------------------------------
// validation

/** Throws WireError unless `id` is a valid id; `what` names it in the message. */
export function assertId(id: string, what: string): string {
  if (!ID_PATTERN.test(id)) {
    throw new WireError(what, `invalid id ${JSON.stringify(id)}: expected 1-64 of [A-Za-z0-9._:-]`);
  }
  return id;
}

function assertIndex(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_INDEX) {
    throw new WireError(what, `invalid index ${n}: expected an integer in [0, ${MAX_INDEX}]`);
  }
  return n;
}

function assertSha256(sha: string): string {
  if (!SHA256_PATTERN.test(sha)) {
    throw new WireError("sha256", `invalid shard hash ${JSON.stringify(sha)}: expected 64 lowercase hex digits`);
  }
  return sha;
}

/** What a `{field}` holds: the field's name says. */
const isNumberField = (field: string) => field === "layer" || field === "part";

function formatField(field: string, value: unknown): string {
  if (isNumberField(field)) return String(assertIndex(value as number, field));
  if (field === "sha256") return assertSha256(value as string);
  return assertId(value as string, field);
}

function parseField(field: string, level: string): string | number | undefined {
  if (isNumberField(field)) return INDEX_PATTERN.test(level) && Number(level) <= MAX_INDEX ? Number(level) : undefined;
  if (field === "sha256") return SHA256_PATTERN.test(level) ? level : undefined;
  return ID_PATTERN.test(level) ? level : undefined;
}

/** `{field}` → field name; a plain level → null. */
const fieldOf = (level: string): string | null =>
  level.startsWith("{") && level.endsWith("}") ? level.slice(1, -1) : null;
const LEVELS = Object.fromEntries(TOPIC_KINDS.map((k) => [k, TOPIC_TABLE[k].levels.split("/")])) as Record<
  TopicKind,
  string[]
>;
/** Each kind's fields, in the order its builder takes them. */
const FIELDS = Object.fromEntries(
  TOPIC_KINDS.map((k) => [k, LEVELS[k].map(fieldOf).filter((f) => f !== null)]),
) as Record<TopicKind, string[]>;

// ---------------------------------------------------------------------------
// building

/** `edgefuse/v1/<deployment>/` */
export function topicPrefix(deployment: string): string {
  return `${TOPIC_ROOT}/${assertId(deployment, "deployment")}/`;
}

/** Levels of `kind` with its fields filled in; a field left out (filters only) becomes `+`. */
function fill(kind: TopicKind, values: Readonly<Record<string, unknown>>, wildcards: boolean): string {
  return LEVELS[kind]
    .map((level) => {
      const field = fieldOf(level);
      if (field === null) return level;
      if (wildcards && values[field] === undefined) return "+";
      return formatField(field, values[field]);
    })
    .join("/");
}

/** The full topic string for `t` in `deployment`. Throws WireError on an invalid id. */
export function formatTopic(deployment: string, t: EdgefuseTopic): string {
  return topicPrefix(deployment) + fill(t.kind, t as unknown as Record<string, unknown>, false);
}

/** The topic that carries chunk `index` of a message meant for `topic`. */
export function chunkTopic(topic: string, index: number): string {
  return `${topic}/${CHUNK_LEVEL}/${assertIndex(index, "chunk index")}`;
}

/**
 * The filter that catches the chunks of every message `filter` catches.
 * A filter ending in `#` already does, so it comes back unchanged.
 */
export function chunkFilter(filter: string): string | null {
  return filter === "#" || filter.endsWith("/#") ? null : `${filter}/${CHUNK_LEVEL}/+`;
}

// ---------------------------------------------------------------------------
// parsing

/** Splits a chunk topic into its base topic and index; null when `topic` is not a chunk topic. */
export function splitChunkTopic(topic: string): { base: string; chunkIndex: number } | null {
  const levels = topic.split("/");
  const n = levels.length;
  if (n < 3 || levels[n - 2] !== CHUNK_LEVEL || !INDEX_PATTERN.test(levels[n - 1]!)) return null;
  const chunkIndex = Number(levels[n - 1]);
  if (chunkIndex > MAX_INDEX) return null;
  return { base: levels.slice(0, n - 2).join("/"), chunkIndex };
}

function parseLevels(levels: readonly string[]): EdgefuseTopic | null {
  for (const kind of TOPIC_KINDS) {
    const pattern = LEVELS[kind];
    if (pattern.length !== levels.length) continue;
    const value: Record<string, unknown> = { kind };
    const fits = pattern.every((p, i) => {
      const field = fieldOf(p);
      if (field === null) return p === levels[i];
      value[field] = parseField(field, levels[i]!);
      return value[field] !== undefined;
    });
    if (fits) return value as EdgefuseTopic;
  }
  return null;
}

/**
 * Reads a topic back into a typed value, or null when it is not an edgefuse topic
 * (wrong root, invalid id, unknown shape). Chunk topics parse to their base topic
 * with `chunkIndex` set.
 */
export function parseTopic(topic: string): ParsedTopic | null {
  if (!topic.startsWith(`${TOPIC_ROOT}/`)) return null;
  const chunk = splitChunkTopic(topic);
  const base = chunk?.base ?? topic;
  const levels = base.slice(TOPIC_ROOT.length + 1).split("/");
  const deployment = levels[0];
  if (deployment === undefined || !ID_PATTERN.test(deployment)) return null;
  const parsed = parseLevels(levels.slice(1));
  return parsed && { ...parsed, deployment, chunkIndex: chunk?.chunkIndex ?? null };
}

/**
 * What is wrong with a topic under `<prefix>infer` that parseTopic refused: a request
 * with no valid id has no errors topic to be answered on, so the source logs this.
 * null when the topic is a valid request (or one of its chunks) or not under `infer`.
 */
export function inferTopicProblem(deployment: string, topic: string): string | null {
  const prefix = topicPrefix(deployment);
  if (!topic.startsWith(prefix) || parseTopic(topic)?.kind === "infer") return null;
  const levels = (splitChunkTopic(topic)?.base ?? topic).slice(prefix.length).split("/");
  if (levels[0] !== "infer") return null;
  const expected = "expected infer/<requestId>";
  if (levels.length === 1) return `no request id: ${expected}`;
  if (levels.length > 2)
    return `${levels.length - 2} level(s) after the request id ${JSON.stringify(levels[1])}: ${expected}`;
  return `request id ${JSON.stringify(levels[1])} is not 1-64 of [A-Za-z0-9._:-]`;
}

/** Like parseTopic, but throws a WireError naming the topic instead of returning null. */
export function parseTopicOrThrow(topic: string): ParsedTopic {
  const parsed = parseTopic(topic);
  if (!parsed) throw new WireError(topic, "not an edgefuse topic (see broker/topics.ts)");
  return parsed;
}

/** The value of the field that names a topic's owning device, for the kinds a device may use only as itself. */
export function ownIdOf(parsed: ParsedTopic, on: "publish" | "read"): string | undefined {
  const spec: TopicSpec = TOPIC_TABLE[parsed.kind];
  if (spec.ownId?.on !== on) return undefined;
  return (parsed as unknown as Record<string, string>)[spec.ownId.field];
}

// ---------------------------------------------------------------------------
// filters

/**
 * MQTT filter semantics (MQTT 3.1.1 §4.7): `+` matches one level, a trailing `#`
 * matches the parent and any number of levels, and a filter starting with a
 * wildcard does not match topics that start with `$`.
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return i === f.length - 1;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

type Builders = { [K in TopicKind]: (...args: ArgsOf<LevelsOf<K>>) => string };
type Filters = { [K in TopicKind]: (fields?: Partial<TopicFields<K>>) => string };

/**
 * Topic names and subscription filters for one deployment, one of each per kind:
 * `topics.partOut(jobId, layer, part)` takes the kind's fields in the order its levels
 * name them, `topics.filters.partOut({ jobId })` turns each field left out into `+`.
 * Every builder validates its values (WireError on `/`, `+`, `#`, empty or over-long ids).
 *
 * ```ts
 * const topics = topicsFor("lab");
 * bus.publish(topics.partOut("j1", 12, 3), frame);
 * bus.subscribe(topics.filters.partOut({ jobId: "j1" }), …); // .../job/j1/layer/+/part/+/out
 * ```
 */
export function topicsFor(deployment: string) {
  const prefix = topicPrefix(deployment);
  const builders = Object.fromEntries(
    TOPIC_KINDS.map((kind) => [
      kind,
      (...args: unknown[]) => prefix + fill(kind, Object.fromEntries(FIELDS[kind].map((f, i) => [f, args[i]])), false),
    ]),
  ) as Builders;
  const filters = Object.fromEntries(
    TOPIC_KINDS.map((kind) => [kind, (fields: Record<string, unknown> = {}) => prefix + fill(kind, fields, true)]),
  ) as Filters;
  const jobFilter = (jobId?: string) => `${prefix}job/${jobId === undefined ? "+" : assertId(jobId, "jobId")}/#`;

  return {
    deployment,
    prefix,
    ...builders,
    filters: {
      ...filters,
      /** Everything in this deployment. */
      all: `${prefix}#`,
      /** `#`, not `+`: a request on `infer` or `infer/a/b` reaches the source, which says what is wrong with it. */
      requests: `${prefix}infer/#`,
      /** Every tensor topic of one job (or of all jobs), chunks included. */
      job: jobFilter,
    },
    /** parseTopic, restricted to this deployment: null for other deployments. */
    parse(topic: string): ParsedTopic | null {
      const parsed = parseTopic(topic);
      return parsed && parsed.deployment === deployment ? parsed : null;
    },
  };
}

export type Topics = ReturnType<typeof topicsFor>;

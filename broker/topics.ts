/**
 * The one source of truth for edgefuse topic names (README, "The wire").
 *
 * Every topic is `edgefuse/v1/<deployment>/<rest>`, where `<rest>` is one of:
 *
 * | kind      | rest                                    | payload                              |
 * |-----------|-----------------------------------------|--------------------------------------|
 * | infer     | `infer/<requestId>`                     | JPEG/PNG bytes or a tensor frame     |
 * | results   | `results/<requestId>`                   | JSON result (messages.ts)            |
 * | errors    | `errors/<requestId>`                    | JSON error (messages.ts)             |
 * | worker    | `workers/<workerId>`                    | retained JSON presence, empty = gone |
 * | plan      | `plan`                                  | retained JSON plan                   |
 * | status    | `status`                                | retained `online` / `offline` (source) |
 * | latest    | `latest`                                | retained JSON summary of the last result |
 * | annotated | `annotated`                             | retained PNG of the last annotated image |
 * | shardRequest | `shard-requests/<deviceId>`          | JSON shard request (messages.ts)     |
 * | deviceShard | `devices/<deviceId>/shards/<sha256>`  | weight shard bytes for that device, empty = not available |
 * | layerIn   | `job/<jobId>/layer/<l>/in`              | tensor frame (frame.ts)              |
 * | partIn    | `job/<jobId>/layer/<l>/part/<p>/in`     | tensor frame                         |
 * | partOut   | `job/<jobId>/layer/<l>/part/<p>/out`    | tensor frame                         |
 *
 * A message too big for one packet travels as chunks on `<topic>/c/<i>` (chunking.ts).
 * A chunk gets a topic of its own so that each retained chunk survives on the broker
 * (a retained message is one per topic) and a late subscriber can rebuild the whole.
 *
 * Weight shards are never retained: a device asks for one on its `shard-requests/<id>`
 * and the planner answers on that device's own `devices/<id>/shards/<sha256>`, so a
 * shared broker keeps no megabytes of weights and a subscriber to `edgefuse/#` is not
 * handed them (planner/serve-shards.ts, actors/runtime/fetch-shard.ts).
 *
 * Everything is published at QoS 1 except the job tensors (JOB_TENSOR_QOS).
 */
import { WireError } from "../core/errors.js";

export const TOPIC_ROOT = "edgefuse/v1";

/**
 * QoS 0 for `job/…` tensors. They are worth something only to the running job, which
 * fails as a whole when a device disconnects (its presence is cleared) or its deadline
 * passes, so QoS 1's redelivery after a reconnect could never save one; its price is
 * real: mqtt.js keeps a copy of every QoS 1 payload until it is acknowledged (at the
 * source, every remote task's input: about half of the 94 MB a YOLOv2 request moves at
 * 6 devices), plus an ack per chunk each way. A chunk that never arrives still ends the job with a clear error (the
 * reassembler's stall timeout, the job deadline), never a wrong result (CRC-32).
 */
export const JOB_TENSOR_QOS = 0;

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

/** One edgefuse topic, without its deployment, as a value. */
export type EdgefuseTopic =
  | { kind: "infer"; requestId: string }
  | { kind: "results"; requestId: string }
  | { kind: "errors"; requestId: string }
  | { kind: "worker"; workerId: string }
  | { kind: "plan" }
  | { kind: "status" }
  | { kind: "latest" }
  | { kind: "annotated" }
  | { kind: "shardRequest"; deviceId: string }
  | { kind: "deviceShard"; deviceId: string; sha256: string }
  | { kind: "layerIn"; jobId: string; layer: number }
  | { kind: "partIn"; jobId: string; layer: number; part: number }
  | { kind: "partOut"; jobId: string; layer: number; part: number };

export type TopicKind = EdgefuseTopic["kind"];

/** A parsed topic: what it is, in which deployment, and which chunk (null = whole message). */
export type ParsedTopic = EdgefuseTopic & { deployment: string; chunkIndex: number | null };

export const TOPIC_KINDS = [
  "infer",
  "results",
  "errors",
  "worker",
  "plan",
  "status",
  "latest",
  "annotated",
  "shardRequest",
  "deviceShard",
  "layerIn",
  "partIn",
  "partOut",
] as const satisfies readonly TopicKind[];

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

// ---------------------------------------------------------------------------
// building

/** `edgefuse/v1/<deployment>/` */
export function topicPrefix(deployment: string): string {
  return `${TOPIC_ROOT}/${assertId(deployment, "deployment")}/`;
}

function rest(t: EdgefuseTopic): string {
  switch (t.kind) {
    case "infer":
      return `infer/${assertId(t.requestId, "requestId")}`;
    case "results":
      return `results/${assertId(t.requestId, "requestId")}`;
    case "errors":
      return `errors/${assertId(t.requestId, "requestId")}`;
    case "worker":
      return `workers/${assertId(t.workerId, "workerId")}`;
    case "plan":
    case "status":
    case "latest":
    case "annotated":
      return t.kind;
    case "shardRequest":
      return `shard-requests/${assertId(t.deviceId, "deviceId")}`;
    case "deviceShard":
      return `devices/${assertId(t.deviceId, "deviceId")}/shards/${assertSha256(t.sha256)}`;
    case "layerIn":
      return `job/${assertId(t.jobId, "jobId")}/layer/${assertIndex(t.layer, "layer")}/in`;
    case "partIn":
      return `job/${assertId(t.jobId, "jobId")}/layer/${assertIndex(t.layer, "layer")}/part/${assertIndex(t.part, "part")}/in`;
    case "partOut":
      return `job/${assertId(t.jobId, "jobId")}/layer/${assertIndex(t.layer, "layer")}/part/${assertIndex(t.part, "part")}/out`;
    default:
      return assertNever(t);
  }
}

/** The full topic string for `t` in `deployment`. Throws WireError on an invalid id. */
export function formatTopic(deployment: string, t: EdgefuseTopic): string {
  return topicPrefix(deployment) + rest(t);
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

const isId = (s: string | undefined): s is string => s !== undefined && ID_PATTERN.test(s);
const isIndex = (s: string | undefined): s is string =>
  s !== undefined && INDEX_PATTERN.test(s) && Number(s) <= MAX_INDEX;

function parseRest(levels: readonly string[]): EdgefuseTopic | null {
  const [head, a, b, c, d, e, f] = levels;
  switch (levels.length) {
    case 1:
      return head === "plan" || head === "status" || head === "latest" || head === "annotated" ? { kind: head } : null;
    case 2:
      if (!isId(a)) return null;
      if (head === "infer") return { kind: "infer", requestId: a };
      if (head === "results") return { kind: "results", requestId: a };
      if (head === "errors") return { kind: "errors", requestId: a };
      if (head === "workers") return { kind: "worker", workerId: a };
      if (head === "shard-requests") return { kind: "shardRequest", deviceId: a };
      return null;
    case 4: // devices/<deviceId>/shards/<sha256>
      if (head === "devices" && isId(a) && b === "shards" && c !== undefined && SHA256_PATTERN.test(c)) return { kind: "deviceShard", deviceId: a, sha256: c };
      return null;
    case 5: // job/<jobId>/layer/<l>/in
      if (head === "job" && isId(a) && b === "layer" && isIndex(c) && d === "in") {
        return { kind: "layerIn", jobId: a, layer: Number(c) };
      }
      return null;
    case 7: // job/<jobId>/layer/<l>/part/<p>/(in|out)
      if (head === "job" && isId(a) && b === "layer" && isIndex(c) && d === "part" && isIndex(e)) {
        if (f === "in") return { kind: "partIn", jobId: a, layer: Number(c), part: Number(e) };
        if (f === "out") return { kind: "partOut", jobId: a, layer: Number(c), part: Number(e) };
      }
      return null;
    default:
      return null;
  }
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
  if (!isId(deployment)) return null;
  const parsed = parseRest(levels.slice(1));
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
  if (levels.length > 2) return `${levels.length - 2} level(s) after the request id ${JSON.stringify(levels[1])}: ${expected}`;
  return `request id ${JSON.stringify(levels[1])} is not 1-64 of [A-Za-z0-9._:-]`;
}

/** Like parseTopic, but throws a WireError naming the topic instead of returning null. */
export function parseTopicOrThrow(topic: string): ParsedTopic {
  const parsed = parseTopic(topic);
  if (!parsed) throw new WireError(topic, "not an edgefuse topic (see broker/topics.ts)");
  return parsed;
}

// ---------------------------------------------------------------------------
// Home Assistant discovery (outside edgefuse/v1: HA reads `<prefix>/<component>/<object_id>/config`)

/** Home Assistant's default discovery prefix. */
export const HA_DEFAULT_PREFIX = "homeassistant";
/** The HA components the source announces (actors/source/home-assistant.ts). */
export const HA_COMPONENTS = ["sensor", "image"] as const;
export type HaComponent = (typeof HA_COMPONENTS)[number];
/** HA's object ids are [a-zA-Z0-9_-]; edgefuse's start with `edgefuse_`. */
const HA_OBJECT_ID = /^edgefuse_[A-Za-z0-9_-]{1,100}$/;
/** An HA discovery prefix: one or more non-empty topic levels, no wildcards, no leading `$`. */
const HA_PREFIX = /^[^/#+$][^/#+]*(?:\/[^/#+]+)*$/;

export const isHaPrefix = (prefix: string): boolean => HA_PREFIX.test(prefix);

export function haDiscoveryTopic(prefix: string, component: HaComponent, objectId: string): string {
  if (!isHaPrefix(prefix)) throw new WireError("Home Assistant prefix", `invalid prefix ${JSON.stringify(prefix)}: expected topic levels without + # or a leading $`);
  if (!HA_OBJECT_ID.test(objectId)) throw new WireError("Home Assistant object id", `invalid object id ${JSON.stringify(objectId)}`);
  return `${prefix}/${component}/${objectId}/config`;
}

/** Is `topic` an edgefuse HA discovery config (under any prefix)? The broker's ACL lets the source publish these. */
export function isHaDiscoveryTopic(topic: string): boolean {
  const levels = topic.split("/");
  const [component, objectId, config] = levels.slice(-3);
  return levels.length >= 4 && config === "config" && HA_COMPONENTS.includes(component as HaComponent) && HA_OBJECT_ID.test(objectId!) && isHaPrefix(levels.slice(0, -3).join("/"));
}

// ---------------------------------------------------------------------------
// filters

/** One `+` level per field left out. */
const level = (v: string | number | undefined): string => (v === undefined ? "+" : String(v));

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

/**
 * Topic names and subscription filters for one deployment. Every builder
 * validates its ids (WireError on `/`, `+`, `#`, empty or over-long ids).
 *
 * ```ts
 * const topics = topicsFor("lab");
 * client.publish(topics.partOut("j1", 12, 3), frame);
 * client.subscribe(topics.filters.partOut({ jobId: "j1" })); // .../job/j1/layer/+/part/+/out
 * ```
 */
export function topicsFor(deployment: string) {
  const prefix = topicPrefix(deployment);
  const validIdOrWildcard = (id: string | undefined, what: string) => (id === undefined ? undefined : assertId(id, what));
  const validIndexOrWildcard = (n: number | undefined, what: string) => (n === undefined ? undefined : assertIndex(n, what));
  type JobFields = { jobId?: string; layer?: number; part?: number };
  const job = ({ jobId, layer }: JobFields) =>
    `${prefix}job/${level(validIdOrWildcard(jobId, "jobId"))}/layer/${level(validIndexOrWildcard(layer, "layer"))}`;
  const jobPart = (fields: JobFields) => `${job(fields)}/part/${level(validIndexOrWildcard(fields.part, "part"))}`;

  return {
    deployment,
    prefix,
    infer: (requestId: string) => formatTopic(deployment, { kind: "infer", requestId }),
    results: (requestId: string) => formatTopic(deployment, { kind: "results", requestId }),
    errors: (requestId: string) => formatTopic(deployment, { kind: "errors", requestId }),
    worker: (workerId: string) => formatTopic(deployment, { kind: "worker", workerId }),
    plan: () => formatTopic(deployment, { kind: "plan" }),
    status: () => formatTopic(deployment, { kind: "status" }),
    latest: () => formatTopic(deployment, { kind: "latest" }),
    annotated: () => formatTopic(deployment, { kind: "annotated" }),
    shardRequest: (deviceId: string) => formatTopic(deployment, { kind: "shardRequest", deviceId }),
    deviceShard: (deviceId: string, sha256: string) => formatTopic(deployment, { kind: "deviceShard", deviceId, sha256 }),
    layerIn: (jobId: string, layer: number) => formatTopic(deployment, { kind: "layerIn", jobId, layer }),
    partIn: (jobId: string, layer: number, part: number) => formatTopic(deployment, { kind: "partIn", jobId, layer, part }),
    partOut: (jobId: string, layer: number, part: number) =>
      formatTopic(deployment, { kind: "partOut", jobId, layer, part }),

    /** Subscription filters; a field left out becomes `+`. */
    filters: {
      /** Everything in this deployment. */
      all: `${prefix}#`,
      /** `#`, not `+`: a request on `infer` or `infer/a/b` reaches the source, which says what is wrong with it. */
      infer: `${prefix}infer/#`,
      results: (requestId?: string) => `${prefix}results/${level(validIdOrWildcard(requestId, "requestId"))}`,
      errors: (requestId?: string) => `${prefix}errors/${level(validIdOrWildcard(requestId, "requestId"))}`,
      workers: `${prefix}workers/+`,
      /** Every device's shard requests (the planner's). */
      shardRequests: `${prefix}shard-requests/+`,
      /** The shards sent to one device (its chunk filter comes from chunkFilter). */
      deviceShards: (deviceId: string) => `${prefix}devices/${assertId(deviceId, "deviceId")}/shards/+`,
      /** Every tensor topic of one job (or of all jobs), chunks included. */
      job: (jobId?: string) => `${prefix}job/${level(validIdOrWildcard(jobId, "jobId"))}/#`,
      layerIn: (fields: Omit<JobFields, "part"> = {}) => `${job(fields)}/in`,
      partIn: (fields: JobFields = {}) => `${jobPart(fields)}/in`,
      partOut: (fields: JobFields = {}) => `${jobPart(fields)}/out`,
    },

    /** parseTopic, restricted to this deployment: null for other deployments. */
    parse(topic: string): ParsedTopic | null {
      const parsed = parseTopic(topic);
      return parsed && parsed.deployment === deployment ? parsed : null;
    },
  };
}

export type Topics = ReturnType<typeof topicsFor>;

function assertNever(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}

/**
 * Users, passwords, client ids and the topic ACL of the embedded broker.
 *
 * Auth file (JSON):
 *
 * ```json
 * { "users": [
 *   { "username": "planner", "password": "scrypt$16384$8$1$<salt b64>$<hash b64>", "role": "planner" },
 *   { "username": "w1",      "password": "scrypt$…", "role": "worker" },
 *   { "username": "cam",     "password": "scrypt$…", "role": "client" },
 *   { "username": "panel",   "password": "scrypt$…", "role": "viewer" } ] }
 * ```
 *
 * Make a hash with `edgefuse broker --hash-password` (reads the password from
 * stdin) or hashPassword(). A password that does not start with `scrypt$` is
 * compared as plain text, for throwaway labs only; the broker warns about it.
 *
 * The ACL is topics.ts' TOPIC_TABLE: for each topic kind, the roles that may publish
 * it and the roles that may read it; every publish right includes the message's chunk
 * topics `<topic>/c/<i>`. A device (source or worker) may announce only its own presence
 * and ask for shards only as itself, and receives only the shards sent to it. The one
 * topic outside edgefuse/v1 is the source's Home Assistant discovery configs. An admin
 * may do anything. On top of the table:
 * - a worker may publish a task's output (`job/…/layer/<l>/part/<p>/out`) only when the
 *   deployment's plan routes that task to it (AclContext.outputOwners, output-routes.ts);
 * - a client reads the results and errors of its own requests only (AclContext.sentRequest);
 * - a viewer (a dashboard, `edgefuse view`) reads status, load, latest, annotated, presence, the plan, the
 *   broker's stats and every trace, result and error, and publishes nothing: no shard, request image or tensor;
 * - an anonymous client, where the broker lets one in, may send requests and read their
 *   results and errors and the deployment's status and load: no plan, presence, shard or tensor.
 *   Its requests are its connection's; one sent on another connection (mosquitto_pub,
 *   then mosquitto_sub) it reads by naming it: subscribing to `results/<id>` itself, no
 *   wildcard (AclContext.namedRequest). A request's id is then the key to its result,
 *   and no one collects everyone's results with `results/#`.
 *
 * A user connects only with the client ids its role allows (clientIdDenial): a device
 * as itself (`worker-<id>`; the source's sourceClientIds), the planner as
 * `planner-…`, and nobody else with those prefixes, so no one can take a device's
 * connection over; `clientIds` in the file names the allowed ids instead.
 *
 * A worker's id is its `workerId` field, or its username. Reads are checked per
 * delivered message (a subscription to `#` is accepted but only carries what the
 * role may read), as Mosquitto's ACL does.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { AuthFileError } from "./errors.js";
import { isHaDiscoveryTopic } from "./home-assistant-topics.js";
import { ID_PATTERN, ownIdOf, parseTopic, ROLES, TOPIC_TABLE, type ParsedTopic, type TopicKind } from "./topics.js";
import { workerClientId } from "./traffic.js";

export { ROLES, type Role } from "./topics.js";

/** The roles of topics.ts, and a viewer: a dashboard that only reads. */
export const USER_ROLES = [...ROLES, "viewer"] as const;
export type UserRole = (typeof USER_ROLES)[number];

const userSchema = z.object({
  username: z.string().min(1).max(128),
  password: z.string().min(1),
  role: z.enum(USER_ROLES),
  /** For devices: the id in `workers/<workerId>`; defaults to the username. */
  workerId: z.string().regex(ID_PATTERN, "expected 1-64 of [A-Za-z0-9._:-]").optional(),
  /** The client ids this user may connect with, instead of its role's (clientIdDenial). */
  clientIds: z.array(z.string().min(1).max(256)).min(1).optional(),
});
export const authFileSchema = z.object({
  users: z.array(userSchema).min(1),
});
export type AuthUser = z.infer<typeof userSchema>;
export type AuthFile = z.infer<typeof authFileSchema>;

export async function loadAuthFile(file: string): Promise<AuthFile> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new AuthFileError(file, `cannot read: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AuthFileError(file, `not JSON: ${(err as Error).message}`);
  }
  return parseAuthFile(json, file);
}

export function parseAuthFile(json: unknown, file = "auth"): AuthFile {
  const result = authFileSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new AuthFileError(file, `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  const seen = new Set<string>();
  for (const user of result.data.users) {
    if (seen.has(user.username)) throw new AuthFileError(file, `user ${user.username} appears twice`);
    seen.add(user.username);
    if (ownIdApplies(user) && !ID_PATTERN.test(idOf(user))) {
      throw new AuthFileError(file, `${user.role} ${user.username}: username is not a valid device id; add "workerId"`);
    }
  }
  return result.data;
}

// ---------------------------------------------------------------------------
// passwords: scrypt (RFC 7914) as `scrypt$N$r$p$<salt base64>$<hash base64>`

export const scryptDefaults = { N: 16384, r: 8, p: 1, saltBytes: 16, hashBytes: 32 } as const;

const scryptAsync = (password: string, salt: Buffer, bytes: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) =>
    scrypt(password, salt, bytes, { ...options, maxmem: 256 * options.N! * options.r! }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );

export async function hashPassword(password: string): Promise<string> {
  const { N, r, p, saltBytes, hashBytes } = scryptDefaults;
  const salt = randomBytes(saltBytes);
  const hash = await scryptAsync(password, salt, hashBytes, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

export const isHashed = (stored: string) => stored.startsWith("scrypt$");

/** Checks `password` against a stored hash (or plain text); false on any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (!isHashed(stored)) return constantTimeEqual(Buffer.from(password), Buffer.from(stored));
  const [, n, r, p, salt, hash] = stored.split("$");
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  if (![N, R, P].every((x) => Number.isInteger(x) && x > 0) || !salt || !hash || N > 2 ** 20) return false;
  const expected = Buffer.from(hash, "base64");
  if (expected.byteLength < 16) return false;
  try {
    const actual = await scryptAsync(password, Buffer.from(salt, "base64"), expected.byteLength, { N, r: R, p: P });
    return constantTimeEqual(actual, expected);
  } catch {
    return false;
  }
}

function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

// ---------------------------------------------------------------------------
// who a connection is

/** An anonymous client, where the broker lets one in (server.ts BrokerOptions.anonymous). */
export const ANONYMOUS = { username: "(anonymous)", role: "anonymous" } as const;

/** Who a connection is: a user, or an anonymous client. */
export type Principal = Pick<AuthUser, "username" | "role" | "workerId" | "clientIds"> | typeof ANONYMOUS;

/** A user and a password an embedding program (`up`) made for one of its own actors. */
export interface Login {
  readonly username: string;
  readonly password: string;
}

/**
 * Users for the actors `up` starts itself, with random passwords that live only in its
 * memory and its children's environment: its planner, its source (device id `source`,
 * with its three connections), each worker, and a client for the requests it sends. The broker takes them beside --auth's
 * (server.ts BrokerOptions.localUsers).
 */
export function deploymentLogins(deployment: string, workerIds: readonly string[]) {
  const users: AuthUser[] = [];
  const make = (username: string, user: Omit<AuthUser, "username" | "password">): Login => {
    const password = randomBytes(24).toString("base64url");
    users.push({ username, password, ...user });
    return { username, password };
  };
  const planner = make(`up:${deployment}:planner`, { role: "planner", clientIds: [`planner-${deployment}`] });
  const source = make(`up:${deployment}:source`, {
    role: "source",
    workerId: "source",
    clientIds: Object.values(sourceClientIds(deployment)),
  });
  const workers = new Map(
    workerIds.map((id) => [id, make(`up:${deployment}:${id}`, { role: "worker", workerId: id })]),
  );
  /** For requests `up` sends itself (`up --infer`). */
  const client = make(`up:${deployment}:client`, { role: "client" });
  /** For the page `up --view` serves: it reads the deployment and publishes nothing. */
  const viewer = make(`up:${deployment}:viewer`, { role: "viewer" });
  return {
    users,
    planner,
    source,
    client,
    viewer,
    worker: (id: string): Login => {
      const login = workers.get(id);
      if (!login) throw new Error(`no login made for worker ${id}`);
      return login;
    },
  };
}

// ---------------------------------------------------------------------------
// client ids

/**
 * A source's connections, one per last will (MQTT gives a connection one): the data
 * connection's clears its presence, the status connection's says offline, the load
 * connection's clears its load. `id` is the source's device id (`up`: its deployment).
 */
export const sourceClientIds = (id: string) =>
  ({ data: `source-${id}`, status: `source-${id}-status`, load: `source-${id}-load` }) as const;

/** Client ids only a device or the planner connects with (traffic.ts workerClientId, the commands' ids). */
const RESERVED_CLIENT_PREFIXES = [workerClientId(""), "source-", "planner-"] as const;

/** The client ids a role connects with by default, as a rule and in words. */
function roleClientIds(p: Principal): { allows: (id: string) => boolean; text: string } {
  switch (p.role) {
    case "worker":
      return { allows: (id) => id === workerClientId(idOf(p)), text: workerClientId(idOf(p)) };
    case "source": {
      const own: string[] = Object.values(sourceClientIds(idOf(p)));
      return { allows: (id) => own.includes(id), text: own.join(" or ") };
    }
    case "planner":
      return { allows: (id) => id.startsWith("planner-"), text: "planner-<deployment>" };
    default:
      return {
        allows: (id) => !RESERVED_CLIENT_PREFIXES.some((prefix) => id.startsWith(prefix)),
        text: `an id that does not start with ${RESERVED_CLIENT_PREFIXES.join(", ")} (the devices' and the planner's)`,
      };
  }
}

/** null if `p` may connect as `clientId`, else why not. */
export function clientIdDenial(p: Principal, clientId: string): string | null {
  if (p.role === "admin") return null;
  const who = describePrincipal(p);
  if (p.role !== "anonymous" && p.clientIds) {
    return p.clientIds.includes(clientId) ? null : `${who} may connect only as ${p.clientIds.join(" or ")}`;
  }
  const rule = roleClientIds(p);
  return rule.allows(clientId) ? null : `${who} may connect only as ${rule.text}, not ${clientId}`;
}

// ---------------------------------------------------------------------------
// ACL

/**
 * What the ACL needs to know beyond the topic: the deployment's plan, for who may
 * publish a task's output, and which requests this client sent, for whose results it reads.
 */
export interface AclContext {
  /** The device ids the deployment's plan routes task (layer, part)'s output to; none without a plan. */
  outputOwners(deployment: string, layer: number, part: number): readonly string[];
  /** Did this client (a user: any of its connections; anonymous: this connection) send request `requestId`? */
  sentRequest(requestId: string): boolean;
  /** Has this client subscribed to request `requestId`'s results or errors by its id, without a wildcard? */
  namedRequest(requestId: string): boolean;
}

/** Knows no plan and no request: every output and every result is refused where the rules depend on them. */
export const NO_CONTEXT: AclContext = { outputOwners: () => [], sentRequest: () => false, namedRequest: () => false };

/** The planner sends shards to any device; a device's own-id rule holds for the source and workers. */
const ownIdApplies = (p: Principal) => p.role === "source" || p.role === "worker";
const idOf = (p: Principal) => ("workerId" in p && p.workerId) || p.username;
const describePrincipal = (p: Principal) =>
  p.role === "anonymous" ? "an anonymous client" : `${p.role} ${p.username}`;

/**
 * What a viewer reads: the dashboard topics, the devices' presence, the plan, the broker's
 * counters and every request's trace, result and error; never a shard, a request's image or a job tensor.
 */
export const VIEWER_READS: ReadonlySet<TopicKind> = new Set([
  "status",
  "load",
  "latest",
  "annotated",
  "worker",
  "plan",
  "stats",
  "trace",
  "results",
  "errors",
]);
/** What an anonymous client reads: the deployment's status and load (and its own requests' results and errors). */
const ANONYMOUS_READS: ReadonlySet<TopicKind> = new Set(["status", "load", "results", "errors"]);
/**
 * The request a subscription names by its id, without a wildcard (`…/results/<id>`, or its
 * chunks' `…/results/<id>/c/+`); undefined for any other filter.
 */
export function requestNamedBy(filter: string): string | undefined {
  const base = filter.endsWith(`/c/+`) ? filter.slice(0, -"/c/+".length) : filter;
  if (base.includes("+") || base.includes("#")) return undefined;
  const parsed = parseTopic(base);
  return parsed?.kind === "results" || parsed?.kind === "errors" ? parsed.requestId : undefined;
}

/** Topics a client reads only for the requests it sent. */
const PER_REQUEST: ReadonlySet<TopicKind> = new Set(["results", "errors", "trace"]);

/** null if `p` may publish on `topic`, else why not. */
export function publishDenial(p: Principal, topic: string, context: AclContext = NO_CONTEXT): string | null {
  if (p.role === "admin") return null;
  const who = describePrincipal(p);
  if (p.role === "viewer") return `${who} may publish nothing (a viewer only reads)`;
  // The one topic outside edgefuse/v1: the source's Home Assistant discovery configs (`<prefix>/<sensor|image>/edgefuse_…/config`).
  if (p.role === "source" && isHaDiscoveryTopic(topic)) return null;
  const parsed = parseTopic(topic);
  if (!parsed) return `${who} may not publish outside the edgefuse topics`;
  if (p.role === "anonymous")
    return parsed.kind === "infer" ? null : `${who} may publish only requests, not ${parsed.kind} topics`;
  if (!(TOPIC_TABLE[parsed.kind].publish as readonly string[]).includes(p.role))
    return `${who} may not publish ${parsed.kind} topics`;
  const owner = ownIdOf(parsed, "publish");
  if (owner !== undefined && ownIdApplies(p) && owner !== idOf(p)) {
    const what = parsed.kind === "worker" ? "presence" : "shard requests";
    return `${who} may publish only its own ${what}, not ${owner}'s`;
  }
  if (parsed.kind === "partOut") return outputDenial(p, parsed, context);
  return null;
}

/** A task's output comes only from the worker the deployment's plan routes the task to. */
function outputDenial(p: Principal, t: ParsedTopic & { kind: "partOut" }, context: AclContext): string | null {
  const owners = context.outputOwners(t.deployment, t.layer, t.part);
  if (owners.includes(idOf(p))) return null;
  const task = `layer ${t.layer} part ${t.part}`;
  return owners.length
    ? `${describePrincipal(p)} may not publish the output of ${task}: the plan routes it to ${owners.join(" or ")}`
    : `${describePrincipal(p)} may not publish the output of ${task}: no plan of deployment ${t.deployment} routes it to a worker`;
}

/** May `p` receive a message published on `topic`? */
export function mayRead(p: Principal, topic: string, context: AclContext = NO_CONTEXT): boolean {
  if (p.role === "admin") return true;
  const parsed = parseTopic(topic);
  if (parsed === null) return false;
  if (p.role === "viewer") return VIEWER_READS.has(parsed.kind);
  const requestId = () => (parsed as { requestId: string }).requestId;
  const ownRequest = () => context.sentRequest(requestId());
  if (p.role === "anonymous")
    return (
      ANONYMOUS_READS.has(parsed.kind) &&
      (!PER_REQUEST.has(parsed.kind) || ownRequest() || context.namedRequest(requestId()))
    );
  if (!(TOPIC_TABLE[parsed.kind].read as readonly string[]).includes(p.role)) return false;
  if (p.role === "client" && PER_REQUEST.has(parsed.kind)) return ownRequest();
  const owner = ownIdOf(parsed, "read");
  return owner === undefined || !ownIdApplies(p) || owner === idOf(p);
}

/**
 * Who may use the embedded broker (server.ts), as aedes hooks: the login, the client ids
 * it allows, and the ACL of auth.ts on every publish and every delivery, with what the
 * ACL needs to know (each deployment's plan, output-routes.ts; who sent which request,
 * sent-requests.ts); plus the retained-bytes bound and the request pacing of limits.ts.
 * Each refusal leaves one log line naming the client and why.
 */
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { AedesOptions, AuthenticateError, Client, PublishPacket } from "aedes";
import { errorMessage } from "../core/errors.js";
import {
  ANONYMOUS,
  clientIdDenial,
  isHashed,
  publishDenial,
  requestNamedBy,
  verifyPassword,
  type AclContext,
  type AuthFile,
  type AuthUser,
  type Principal,
} from "./auth.js";
import { isRequestTopic, RetainedBudget, TokenBucket, type BrokerLimits } from "./limits.js";
import type { OutputRoutes } from "./output-routes.js";
import type { SentRequests } from "./sent-requests.js";
import { parseTopic, splitChunkTopic } from "./topics.js";

/** What a client without a username may do when there is no auth file: see BrokerOptions.anonymous. */
export type AnonymousAccess = "guest" | "trusted";

/** Who is let in (server.ts BrokerOptions has each one's meaning). */
export interface AdmissionOptions {
  auth?: AuthFile | undefined;
  localUsers?: readonly AuthUser[] | undefined;
  anonymous?: AnonymousAccess | undefined;
}

// aedes' CONNACK return codes (MQTT 3.1.1 §3.2.2.3); its AuthErrorCode is a const enum.
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
/** aedes' own rule, kept by our authorizePublish: clients may not publish the broker's $SYS topics. */
const SYS_PREFIX = "$SYS/";
/** An anonymous client of a broker told to trust them (--insecure): anything, as before users. */
const TRUSTED_ANONYMOUS: Principal = { username: ANONYMOUS.username, role: "admin" };

/** What the broker knows of its connections, shared by its hooks and event handlers. */
export interface Connections {
  readonly log: (line: string) => void;
  readonly limits: BrokerLimits;
  /** Who each admitted client is (anonymous clients too). */
  readonly principalOf: WeakMap<Client, Principal>;
  /** The connected client of each client id, for refusing an id another user holds. */
  readonly byId: Map<string, Client>;
  readonly routes: OutputRoutes;
  readonly sent: SentRequests<Client>;
  readonly socketOf: WeakMap<Duplex, Socket>;
  /** The client on a connection, once it has sent CONNECT. */
  readonly clientOf: WeakMap<Duplex, Client>;
  /** Refusals logged where they happen; aedes then reports them again as client errors. */
  readonly logged: WeakSet<Error>;
}

/** The client's id and, once its socket is known, where it connects from; "broker" for the broker's own messages. */
export function describe(conns: Connections, client: Client | null): string {
  if (!client) return "broker";
  const where = socketOfClient(conns, client);
  return where ? `client ${shortId(client.id)} (${where})` : `client ${shortId(client.id)}`;
}

/** Where a client connects from, when its socket is known. */
function socketOfClient(conns: Connections, client: Client): string | undefined {
  const socket = client.conn && conns.socketOf.get(client.conn);
  return socket ? remote(socket) : undefined;
}

/** A client id short enough to print in a log line (null before CONNECT: aedes types it string, but it is not yet). */
export const shortId = (id: string | null) =>
  id !== null && id.length > 64 ? `${id.slice(0, 64)}… (${Buffer.byteLength(id)} bytes)` : String(id);

/** The connection's client, once aedes has one for it, else just where it connects from. */
export function describeConn(conns: Connections, conn: Duplex): string {
  const client = conns.clientOf.get(conn);
  if (client) return describe(conns, client);
  const socket = conns.socketOf.get(conn);
  return socket ? `connection from ${remote(socket)}` : "a connection";
}

/** Who may connect and what they may publish, as aedes hooks; each refusal leaves one log line. */
export function admission(
  opts: AdmissionOptions,
  conns: Connections,
): Pick<AedesOptions, "authenticate" | "authorizePublish" | "authorizeSubscribe"> {
  return {
    authenticate: connectCheck(opts, conns),
    authorizePublish: publishCheck(conns),
    // Every subscription is accepted (reads are checked per message); one that names a request is noted.
    authorizeSubscribe(client, subscription, done) {
      const requestId = requestNamedBy(subscription.topic);
      if (requestId !== undefined) namedBy(client).add(requestId);
      done(null, subscription);
    },
  };
}

/** The requests each client named in a subscription (auth.ts AclContext.namedRequest); a connection's own, bounded. */
const named = new WeakMap<Client, Set<string>>();
const MAX_NAMED_REQUESTS = 1000;
function namedBy(client: Client): Set<string> {
  const ids = named.get(client) ?? new Set<string>();
  named.set(client, ids);
  if (ids.size >= MAX_NAMED_REQUESTS) ids.delete(ids.values().next().value!);
  return ids;
}

/** What the ACL knows for one client: the plans' routes and the requests it sent (auth.ts AclContext). */
export function aclContext(conns: Connections, client: Client): AclContext {
  const known = contexts.get(client);
  if (known) return known;
  const username = usernameOf(conns.principalOf.get(client));
  const made: AclContext = {
    outputOwners: (deployment, layer, part) => conns.routes.ownersOf(deployment, layer, part),
    sentRequest: (requestId) => conns.sent.has(client, username, requestId),
    namedRequest: (requestId) => named.get(client)?.has(requestId) ?? false,
  };
  contexts.set(client, made);
  return made;
}
const contexts = new WeakMap<Client, AclContext>();

/** A user's name; undefined for an anonymous client (its requests are its connection's). */
const usernameOf = (p: Principal | undefined) =>
  p === undefined || p.username === ANONYMOUS.username ? undefined : p.username;

/** The client-id limit, the login, the client ids the login allows, and no id another user holds. */
function connectCheck(opts: AdmissionOptions, conns: Connections): AedesOptions["authenticate"] {
  const { log, principalOf, logged, limits, byId } = conns;
  const fileUsers = opts.auth?.users ?? [];
  for (const u of fileUsers) if (!isHashed(u.password)) log(`warning: user ${u.username} has a plain-text password`);
  const users = new Map([...fileUsers, ...(opts.localUsers ?? [])].map((u) => [u.username, u]));
  const anonymous = opts.auth ? undefined : opts.anonymous === "trusted" ? TRUSTED_ANONYMOUS : ANONYMOUS;

  return function authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const refuse = (why: string, returnCode: number) => {
      log(`refused ${describe(conns, client)}: ${why}`);
      const error = Object.assign(new Error(why), { returnCode }) as AuthenticateError;
      logged.add(error);
      done(error, false);
    };
    const admit = (principal: Principal) => {
      const idProblem = clientIdDenial(principal, client.id) ?? idHeldByAnother(principal);
      if (idProblem) {
        refuse(idProblem, IDENTIFIER_REJECTED);
        return;
      }
      principalOf.set(client, principal);
      done(null, true);
    };
    /** Taking over a connected client's id is its own user's right (a reconnection), no one else's. */
    const idHeldByAnother = (principal: Principal): string | null => {
      const holder = byId.get(client.id);
      if (!holder || holder === client || holder.closed) return null;
      const held = principalOf.get(holder);
      return held && held.username !== principal.username
        ? `client id ${shortId(client.id)} is connected as ${held.username === ANONYMOUS.username ? "an anonymous client" : `user ${held.username}`}`
        : null;
    };
    const idBytes = Buffer.byteLength(client.id);
    if (idBytes > limits.maxClientIdBytes) {
      refuse(
        `client id of ${idBytes} bytes is over the broker's limit of ${limits.maxClientIdBytes} (maxClientIdBytes)`,
        IDENTIFIER_REJECTED,
      );
      return;
    }
    const user = username === undefined ? undefined : users.get(username);
    if (!user) {
      // Without an auth file a username names nobody: the client is anonymous, as one that gives none.
      if (anonymous) admit(anonymous);
      else refuse(username === undefined ? "no username" : `unknown user ${username}`, BAD_USERNAME_OR_PASSWORD);
      return;
    }
    verifyPassword(password?.toString("utf8") ?? "", user.password).then(
      (ok) => (ok ? admit(user) : refuse(`wrong password for ${username}`, BAD_USERNAME_OR_PASSWORD)),
      (err: unknown) => refuse(`password check failed: ${errorMessage(err)}`, BAD_USERNAME_OR_PASSWORD),
    );
  };
}

/** The publish ACL of auth.ts, the retained-bytes bound and the request pacing; notes who sent each request. */
function publishCheck(conns: Connections): AedesOptions["authorizePublish"] {
  const { log, principalOf, logged, limits, sent } = conns;
  const retained = new RetainedBudget(limits.maxRetainedBytes);
  /** The base topic whose refusal to be retained was logged last: one line per chunked message, not per chunk. */
  let lastUnretained: string | undefined;
  const buckets = new WeakMap<Client, TokenBucket>();

  /** null when `client` may publish on `topic`, else why not. */
  function denial(client: Client, topic: string): string | null {
    if (topic.startsWith(SYS_PREFIX)) return `${SYS_PREFIX} topics are the broker's`;
    const principal = principalOf.get(client);
    return principal ? publishDenial(principal, topic, aclContext(conns, client)) : "not logged in";
  }

  /** Past the retained bound, the message still goes to its subscribers, only not into the store. */
  function keepRetainedWithinBound(client: Client, packet: PublishPacket): void {
    const bytes = Buffer.byteLength(packet.payload);
    if (!packet.retain || retained.admit(packet.topic, bytes)) return;
    packet.retain = false;
    const base = splitChunkTopic(packet.topic)?.base ?? packet.topic;
    if (base === lastUnretained) return;
    lastUnretained = base;
    log(
      `not retained: ${bytes} bytes on ${packet.topic} by ${describe(conns, client)} would take retained messages ` +
        `past the broker's limit of ${limits.maxRetainedBytes} bytes (maxRetainedBytes; ${retained.bytes} held); delivered live only`,
    );
  }

  return function authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    done: (error?: Error | null) => void,
  ): void {
    if (!client) {
      done(null); // the broker's own $SYS messages
      return;
    }
    const why = denial(client, packet.topic);
    if (why) {
      log(`denied publish on ${packet.topic} by ${describe(conns, client)}: ${why}`);
      const error = new Error(why);
      logged.add(error);
      done(error);
      return;
    }
    keepRetainedWithinBound(client, packet);
    if (!isRequestTopic(packet.topic)) {
      done(null);
      return;
    }
    const request = parseTopic(packet.topic);
    if (request?.kind === "infer") sent.add(client, usernameOf(principalOf.get(client)), request.requestId);
    // Pacing holds this packet, and with it the reads of this client's socket (aedes
    // reads on once a batch of packets is through): a flood waits in its own TCP buffers.
    const bucket = buckets.get(client) ?? new TokenBucket(limits.requestRate);
    buckets.set(client, bucket);
    const waitMs = bucket.take();
    if (waitMs === 0) done(null);
    // A client that left meanwhile: its held packets go nowhere (acking one would fail and
    // log the client as dropped once per packet).
    else setTimeout(() => client.closed || done(null), waitMs);
  };
}

export const remote = (socket: Socket) => `${socket.remoteAddress}:${socket.remotePort}`;

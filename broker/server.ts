/**
 * The embedded broker: aedes 1.x (it speaks MQTT 3.1.1 only) on TCP and,
 * optionally, WebSocket, with per-client byte counters (traffic.ts) and, when given
 * users, authentication and the topic ACL of auth.ts.
 *
 * ```ts
 * const broker = await startBroker({ port: 0 });
 * const client = await connectBroker(broker.url, { clientId: "w1" });
 * …
 * console.log(broker.bytes()["w1"]);   // { bytesIn, bytesOut, messagesIn, messagesOut, byTopicClass }
 * await broker.close();
 * ```
 *
 * A bad client never takes the broker down: malformed packets, refused logins and
 * denied publishes drop that client (MQTT 3.1.1 has no negative PUBACK, so a
 * denied publish ends the connection, as aedes does) and leave one log line.
 *
 * Nor can one client make it hold without bound (limits.ts, BrokerOptions.limits): a
 * packet over maxPacketBytes drops its sender, a client id over maxClientIdBytes is
 * refused, a retained message past maxRetainedBytes is delivered but not retained,
 * and a client's requests (`infer/…`) are paced to requestRate, so a flood waits in
 * its own socket instead of ahead of everyone's requests.
 */
import { once } from "node:events";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Aedes, type AedesOptions, type AuthenticateError, type Client, type PublishPacket } from "aedes";
import { WebSocketServer, createWebSocketStream } from "ws";
import { EdgefuseError, errorMessage } from "../core/errors.js";
import { isHashed, mayRead, publishDenial, verifyPassword, type AuthFile, type AuthUser } from "./auth.js";
import { BrokerError } from "./errors.js";
import {
  brokerLimitDefaults,
  isRequestTopic,
  RetainedBudget,
  TokenBucket,
  watchPacketSizes,
  type BrokerLimits,
} from "./limits.js";
import { splitChunkTopic } from "./topics.js";
import { TrafficMeter, type ClientTraffic } from "./traffic.js";

export interface BrokerOptions {
  /** TCP port for MQTT; 0 picks a free one (see RunningBroker.port). */
  port: number;
  host: string;
  /** Also serve MQTT over WebSocket on this port (0 = pick one); off when absent. */
  wsPort?: number;
  /** Users and roles (auth.ts, loadAuthFile). Without it every client is let in, anonymous. */
  auth?: AuthFile;
  /** Where refusals and client errors are reported, one line each. */
  log: (line: string) => void;
  /** What one client may make the broker hold (limits.ts); each one not given keeps its default. */
  limits?: Partial<BrokerLimits>;
  /** How many clients that left the traffic meter keeps by name (traffic.ts); older ones are added up. */
  rememberDepartedClients?: number;
}

export const brokerDefaults = {
  port: 1883,
  host: "127.0.0.1",
  log: (line: string) => console.error(`broker: ${line}`),
} satisfies Partial<BrokerOptions>;

export interface RunningBroker {
  /** `mqtt://host:port`, ready for connectBroker (loopback when listening on every address). */
  readonly url: string;
  /** The address and port listened on, as given: `0.0.0.0:1883` means every interface. */
  readonly listening: string;
  /** The port actually listened on (differs from the option when it was 0). */
  readonly port: number;
  /** `ws://host:port` when WebSocket is on. */
  readonly wsUrl?: string;
  /** As `listening`, for WebSocket. */
  readonly wsListening?: string;
  readonly wsPort?: number;
  /** A snapshot of every client's counters, by client id (traffic.ts). */
  bytes(): Record<string, ClientTraffic>;
  /** Disconnects every client and stops listening. Safe to call twice. */
  close(): Promise<void>;
}

// aedes' CONNACK return codes (MQTT 3.1.1 §3.2.2.3); its AuthErrorCode is a const enum.
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
/** aedes' own rule, kept by our authorizePublish: clients may not publish the broker's $SYS topics. */
const SYS_PREFIX = "$SYS/";

/** What the broker knows of its connections, shared by its hooks and event handlers. */
interface Connections {
  readonly log: (line: string) => void;
  readonly limits: BrokerLimits;
  readonly userOf: WeakMap<Client, AuthUser>;
  readonly socketOf: WeakMap<Duplex, Socket>;
  /** The client on a connection, once it has sent CONNECT. */
  readonly clientOf: WeakMap<Duplex, Client>;
  /** Refusals logged where they happen; aedes then reports them again as client errors. */
  readonly logged: WeakSet<Error>;
}

export async function startBroker(options: Partial<BrokerOptions> = {}): Promise<RunningBroker> {
  const opts = { ...brokerDefaults, ...options } satisfies BrokerOptions;
  const limits: BrokerLimits = { ...brokerLimitDefaults, ...opts.limits };
  const traffic = new TrafficMeter(
    opts.rememberDepartedClients === undefined ? {} : { rememberDeparted: opts.rememberDepartedClients },
  );
  const conns: Connections = {
    log: opts.log,
    limits,
    userOf: new WeakMap(),
    socketOf: new WeakMap(),
    clientOf: new WeakMap(),
    logged: new WeakSet(),
  };
  const sockets = new Set<Socket>();

  const aedes = await Aedes.createBroker({
    ...admission(opts.auth, conns),
    authorizeForward(client, packet) {
      const user = conns.userOf.get(client);
      if (opts.auth && (!user || !mayRead(user, packet.topic))) return null;
      traffic.forwarded(client.id, packet.topic, packet.payload.length);
      return packet;
    },
  });
  watchClients(aedes, traffic, conns);

  const accept = (socket: Socket, conn: Duplex, req?: IncomingMessage) => {
    // Nagle's algorithm holds small writes (acks, the tail of a tensor) for up to 40 ms
    // waiting for more; a request is many small round trips, so send at once.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    conns.socketOf.set(conn, socket);
    traffic.track(socket);
    aedes.handle(conn, req);
    // After handle: aedes' `readable` listener must be there first, so this one only listens (limits.ts).
    watchPacketSizes(conn, limits.maxPacketBytes, (bytes) => {
      opts.log(
        `${describeConn(conns, conn)} dropped: a packet of ${bytes} bytes is over the broker's limit of ${limits.maxPacketBytes} (maxPacketBytes)`,
      );
      conn.destroy();
      socket.destroy();
    });
  };

  const tcp = createServer((socket) => accept(socket, socket));
  let port: number;
  let ws: WebSocketListener | undefined;
  try {
    port = await listen(tcp, opts.port, opts.host, "mqtt");
    if (opts.wsPort !== undefined) ws = await listenWebSocket(opts.wsPort, opts.host, accept);
  } catch (err) {
    tcp.close();
    aedes.close(); // its timers would keep the process alive after the error
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = async () => {
    const closed = [once(tcp, "close"), ...(ws ? [once(ws.http, "close")] : [])];
    tcp.close();
    ws?.wss.close();
    ws?.http.close();
    await new Promise<void>((resolve) => aedes.close(resolve));
    for (const socket of sockets) socket.destroy();
    await Promise.all(closed);
  };
  return {
    url: `mqtt://${hostForUrl(connectHost(opts.host))}:${port}`,
    listening: `${hostForUrl(opts.host)}:${port}`,
    port,
    ...(ws && {
      wsUrl: `ws://${hostForUrl(connectHost(opts.host))}:${ws.port}`,
      wsListening: `${hostForUrl(opts.host)}:${ws.port}`,
      wsPort: ws.port,
    }),
    bytes: () => traffic.snapshot(),
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}

/** The client's id and, once its socket is known, where it connects from; "broker" for the broker's own messages. */
function describe(conns: Connections, client: Client | null): string {
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
const shortId = (id: string | null) =>
  id !== null && id.length > 64 ? `${id.slice(0, 64)}… (${Buffer.byteLength(id)} bytes)` : String(id);

/** The connection's client, once aedes has one for it, else just where it connects from. */
function describeConn(conns: Connections, conn: Duplex): string {
  const client = conns.clientOf.get(conn);
  if (client) return describe(conns, client);
  const socket = conns.socketOf.get(conn);
  return socket ? `connection from ${remote(socket)}` : "a connection";
}

/** Who may connect and what they may publish, as aedes hooks; each refusal leaves one log line. */
function admission(
  auth: AuthFile | undefined,
  conns: Connections,
): Pick<AedesOptions, "authenticate" | "authorizePublish"> {
  return { authenticate: connectCheck(auth, conns), authorizePublish: publishCheck(auth, conns) };
}

/** The client-id limit and, with users, the login check. */
function connectCheck(auth: AuthFile | undefined, conns: Connections): AedesOptions["authenticate"] {
  const { log, userOf, logged, limits } = conns;
  const users = new Map((auth?.users ?? []).map((u) => [u.username, u]));
  for (const u of users.values())
    if (!isHashed(u.password)) log(`warning: user ${u.username} has a plain-text password`);

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
    const idBytes = Buffer.byteLength(client.id);
    if (idBytes > limits.maxClientIdBytes) {
      refuse(
        `client id of ${idBytes} bytes is over the broker's limit of ${limits.maxClientIdBytes} (maxClientIdBytes)`,
        IDENTIFIER_REJECTED,
      );
      return;
    }
    if (!auth) {
      done(null, true);
      return;
    }
    const user = username === undefined ? undefined : users.get(username);
    if (!user) {
      refuse(username === undefined ? "no username" : `unknown user ${username}`, BAD_USERNAME_OR_PASSWORD);
      return;
    }
    verifyPassword(password?.toString("utf8") ?? "", user.password).then(
      (ok) => {
        if (!ok) {
          refuse(`wrong password for ${username}`, BAD_USERNAME_OR_PASSWORD);
          return;
        }
        userOf.set(client, user);
        done(null, true);
      },
      (err: unknown) => refuse(`password check failed: ${errorMessage(err)}`, BAD_USERNAME_OR_PASSWORD),
    );
  };
}

/** The publish ACL of auth.ts (with users), the retained-bytes bound and the request pacing. */
function publishCheck(auth: AuthFile | undefined, conns: Connections): AedesOptions["authorizePublish"] {
  const { log, userOf, logged, limits } = conns;
  const retained = new RetainedBudget(limits.maxRetainedBytes);
  /** The base topic whose refusal to be retained was logged last: one line per chunked message, not per chunk. */
  let lastUnretained: string | undefined;
  const buckets = new WeakMap<Client, TokenBucket>();

  /** null when `client` may publish on `topic`, else why not. */
  function denial(client: Client, topic: string): string | null {
    if (topic.startsWith(SYS_PREFIX)) return `${SYS_PREFIX} topics are the broker's`;
    if (!auth) return null;
    const user = userOf.get(client);
    return user ? publishDenial(user, topic) : "not logged in";
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

/** Counts each client's traffic under its id and logs every client dropped for a reason not logged already. */
function watchClients(aedes: Aedes, traffic: TrafficMeter, conns: Connections): void {
  const { log, logged, socketOf, clientOf } = conns;
  aedes.on("client", (client) => {
    if (client.conn) clientOf.set(client.conn, client);
    const socket = client.conn && socketOf.get(client.conn);
    if (socket) traffic.identify(socket, client.id);
  });
  aedes.on("publish", (packet, client) => {
    if (client) traffic.published(client.id, packet.topic, packet.payload.length);
  });
  aedes.on("clientError", (client, err) => {
    if (!logged.has(err)) log(`${describe(conns, client)} dropped: ${err.message}`);
  });
  aedes.on("connectionError", (client, err) => {
    if (!logged.has(err)) log(`connection ${describe(conns, client)} dropped: ${err.message}`);
  });
}

interface WebSocketListener {
  readonly http: HttpServer;
  readonly wss: WebSocketServer;
  readonly port: number;
}

/** MQTT over WebSocket on its own HTTP server; each connection goes to `accept` as a stream. */
async function listenWebSocket(
  port: number,
  host: string,
  accept: (socket: Socket, conn: Duplex, req: IncomingMessage) => void,
): Promise<WebSocketListener> {
  const http = createHttpServer();
  const listened = await listen(http, port, host, "ws");
  // Only once listening: the WebSocket server re-emits its http server's errors, and one
  // from a failed listen would be unhandled.
  const wss = new WebSocketServer({ server: http });
  wss.on("connection", (ws, req) => accept(req.socket, createWebSocketStream(ws), req));
  return { http, wss, port: listened };
}

/** Another process already listens on the port: the one listen failure a user fixes by choosing another. */
export class PortInUseError extends EdgefuseError {
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    super("port-in-use", `port ${port} on ${host} is in use (EADDRINUSE)`);
  }
}

/**
 * Fails as startBroker would if host:port cannot be listened on, without starting
 * anything: a command that loads a model first can refuse a taken port at once.
 */
export async function assertCanListen(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await listen(probe, port, host, "mqtt");
  await new Promise((resolve) => probe.close(resolve));
}

/** Why listen failed, in words; the errno code stays in brackets for searching. */
const LISTEN_PROBLEMS: Readonly<Record<string, (host: string, port: number) => string>> = {
  EACCES: (_, port) => `port ${port} needs privileges (ports below 1024 are root's)`,
  EADDRNOTAVAIL: (host) => `${host} is not an address of this machine`,
  ENOTFOUND: (host) => `${host} is not a host name this machine can resolve`,
  EAI_AGAIN: (host) => `${host} is not a host name this machine can resolve`,
};

/** Listens and resolves with the port; PortInUseError or BrokerError (one line) when it cannot. */
async function listen(server: Server | HttpServer, port: number, host: string, scheme: string): Promise<number> {
  const url = `${scheme}://${hostForUrl(host)}:${port}`;
  try {
    server.listen(port, host);
    await once(server, "listening");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new PortInUseError(host, port);
    const problem = code && Object.hasOwn(LISTEN_PROBLEMS, code) ? LISTEN_PROBLEMS[code]!(host, port) : undefined;
    throw new BrokerError(url, problem ? `cannot listen: ${problem} (${code})` : `cannot listen: ${errorMessage(err)}`);
  }
  const address = server.address();
  if (!address || typeof address === "string") throw new BrokerError(url, "listening, but on no TCP port");
  return address.port;
}

/** Where a client on this machine connects to reach a server listening on `host`: the wildcard addresses are no destination. */
const connectHost = (host: string) => (host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host);
const hostForUrl = (host: string) => (host.includes(":") ? `[${host}]` : host);
const remote = (socket: Socket) => `${socket.remoteAddress}:${socket.remotePort}`;

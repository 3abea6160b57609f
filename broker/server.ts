/**
 * The embedded broker: aedes 1.x (it speaks MQTT 3.1.1 only) on TCP and,
 * optionally, WebSocket (both over TLS with BrokerOptions.tls, tls.ts), with per-client
 * byte counters (traffic.ts), and the logins, client ids and topic ACL of auth.ts.
 *
 * Who gets in: the users of `auth` (an --auth file) and `localUsers` (the ones `up` makes
 * for its own actors), each with its role's rights; a client without a username is
 * refused when there is an auth file, else let in as `anonymous` says: a guest (send
 * requests, read their results; the default) or trusted with everything (--insecure). A
 * broker reachable beyond this machine must have an auth file or say "trusted" out loud:
 * startBroker refuses otherwise (exposureProblem). No one connects with a client id its
 * role does not allow, nor with one another user is connected with, so no client can
 * kick a device off by taking its id. A worker publishes a task's output only when the
 * deployment's plan, which the broker follows (output-routes.ts), routes the task to it.
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
import { createServer as createHttpsServer } from "node:https";
import { createServer, isIP, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";
import { Aedes } from "aedes";
import { WebSocketServer, createWebSocketStream } from "ws";
import { EdgefuseError, errorMessage } from "../core/errors.js";
import { mayRead, type AuthFile, type AuthUser } from "./auth.js";
import {
  aclContext,
  admission,
  describe,
  describeConn,
  remote,
  type AnonymousAccess,
  type Connections,
} from "./admission.js";
import { BrokerError } from "./errors.js";
import { brokerLimitDefaults, watchPacketSizes, type BrokerLimits } from "./limits.js";
import { OutputRoutes } from "./output-routes.js";
import { SentRequests } from "./sent-requests.js";
import { publishStats, type StatsOptions } from "./stats.js";
import type { ServerTls } from "./tls.js";
import { TrafficMeter, type ClientTraffic } from "./traffic.js";

export interface BrokerOptions {
  /** TCP port for MQTT; 0 picks a free one (see RunningBroker.port). */
  port: number;
  host: string;
  /** Also serve MQTT over WebSocket on this port (0 = pick one); off when absent. */
  wsPort?: number;
  /** Users and roles (auth.ts, loadAuthFile). With it, a client without a username is refused. */
  auth?: AuthFile;
  /**
   * Users the embedding program made for its own actors (auth.ts deploymentLogins): as
   * `auth`'s, but their passwords are random and in memory only, so not warned about.
   */
  localUsers?: readonly AuthUser[];
  /**
   * Without `auth`, what a client without a username may do: "guest" (the default) send
   * requests and read their results and errors and the deployment's status; "trusted"
   * anything, as any client could before users — for a lab or a network of one's own.
   */
  anonymous?: AnonymousAccess;
  /** TLS on every listener: mqtts:// on the TCP port, wss:// on the WebSocket one (tls.ts serverTls). */
  tls?: ServerTls;
  /**
   * With `tls`, also plain MQTT on 127.0.0.1 at this port (0 = pick one), for the embedding
   * program's own actors on this machine (`up`'s): the same broker, users and ACL, only no
   * certificate to trust or name. RunningBroker.localUrl.
   */
  localPort?: number;
  /** Where refusals and client errors are reported, one line each. */
  log: (line: string) => void;
  /** What one client may make the broker hold (limits.ts); each one not given keeps its default. */
  limits?: Partial<BrokerLimits>;
  /** How many clients that left the traffic meter keeps by name (traffic.ts); older ones are added up. */
  rememberDepartedClients?: number;
  /** Publish the traffic counters on this deployment's `stats` topic about once a second (stats.ts), for a viewer. */
  stats?: StatsOptions;
}

export type { AnonymousAccess } from "./admission.js";

export const brokerDefaults = {
  port: 1883,
  host: "127.0.0.1",
  anonymous: "guest" as AnonymousAccess,
  log: (line: string) => console.error(`broker: ${line}`),
} satisfies Partial<BrokerOptions>;

/** Addresses only this machine reaches. */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  const v4 = host.startsWith("::ffff:") ? host.slice("::ffff:".length) : host;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

/**
 * Why a broker with these options must not listen on `host`, or null: beyond loopback
 * anyone who reaches the port is a client, so it needs users, or anonymous clients
 * trusted on purpose (`--insecure`).
 */
export function exposureProblem(host: string, o: Pick<BrokerOptions, "auth" | "anonymous">): string | null {
  if (isLoopback(host) || o.auth || o.anonymous === "trusted") return null;
  return `${host} is reachable beyond this machine: give users with --auth FILE, or --insecure to let anyone who reaches it do anything`;
}

/** Throws the BrokerError startBroker would for exposureProblem, without starting anything (`up` checks before loading a model). */
export function assertSafeExposure(
  host: string,
  port: number,
  o: Pick<BrokerOptions, "auth" | "anonymous" | "tls">,
): void {
  const problem = exposureProblem(host, o);
  if (problem)
    throw new BrokerError(`${o.tls ? "mqtts" : "mqtt"}://${hostForUrl(host)}:${port}`, `not listening: ${problem}`);
}

export interface RunningBroker {
  /** `mqtt://host:port` (`mqtts://` with TLS), ready for connectBroker (loopback when listening on every address). */
  readonly url: string;
  /** The address and port listened on, as given: `0.0.0.0:1883` means every interface. */
  readonly listening: string;
  /** The port actually listened on (differs from the option when it was 0). */
  readonly port: number;
  /** `ws://host:port` (`wss://` with TLS) when WebSocket is on. */
  readonly wsUrl?: string;
  /** As `listening`, for WebSocket. */
  readonly wsListening?: string;
  readonly wsPort?: number;
  /** With BrokerOptions.localPort: `mqtt://127.0.0.1:port`, the plain loopback listener. */
  readonly localUrl?: string;
  /** A snapshot of every client's counters, by client id (traffic.ts). */
  bytes(): Record<string, ClientTraffic>;
  /** Disconnects every client and stops listening. Safe to call twice. */
  close(): Promise<void>;
}

export async function startBroker(options: Partial<BrokerOptions> = {}): Promise<RunningBroker> {
  const opts = { ...brokerDefaults, ...options } satisfies BrokerOptions;
  const scheme = opts.tls ? { mqtt: "mqtts", ws: "wss" } : { mqtt: "mqtt", ws: "ws" };
  assertSafeExposure(opts.host, opts.port, opts);
  const limits: BrokerLimits = { ...brokerLimitDefaults, ...opts.limits };
  const traffic = new TrafficMeter(
    opts.rememberDepartedClients === undefined ? {} : { rememberDeparted: opts.rememberDepartedClients },
  );
  const conns = newConnections(opts.log, limits);
  const sockets = new Set<Socket>();

  const aedes = await Aedes.createBroker({
    ...admission(opts, conns),
    authorizeForward(client, packet) {
      const principal = conns.principalOf.get(client);
      if (!principal || !mayRead(principal, packet.topic, aclContext(conns, client))) return null;
      traffic.forwarded(client.id, packet.topic, packet.payload.length);
      return packet;
    },
  });
  watchClients(aedes, traffic, conns);
  const stopStats = opts.stats ? publishStats(aedes, opts.stats, () => traffic.snapshot(), opts.log) : () => {};

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

  const tls = opts.tls && tlsServerOptions(opts.tls);
  const onSocket = (socket: Socket) => accept(socket, socket);
  const tcp = tls ? tlsListener(tls, onSocket, opts.log) : createServer(onSocket);
  const local = tls && opts.localPort !== undefined ? createServer(onSocket) : undefined;
  let port: number;
  let localPort: number | undefined;
  let ws: WebSocketListener | undefined;
  try {
    port = await listen(tcp, opts.port, opts.host, scheme.mqtt);
    if (local) localPort = await listen(local, opts.localPort!, "127.0.0.1", "mqtt");
    if (opts.wsPort !== undefined) ws = await listenWebSocket(opts.wsPort, opts.host, accept, tls);
  } catch (err) {
    tcp.close();
    local?.close();
    stopStats();
    aedes.close(); // its timers would keep the process alive after the error
    conns.routes.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = async () => {
    const servers = [tcp, local, ws?.http].filter((server) => server !== undefined);
    const closed = servers.map((server) => once(server, "close"));
    stopStats();
    ws?.wss.close();
    for (const server of servers) server.close();
    await new Promise<void>((resolve) => aedes.close(resolve));
    for (const socket of sockets) socket.destroy();
    conns.routes.close();
    await Promise.all(closed);
  };
  return {
    url: `${scheme.mqtt}://${hostForUrl(connectHost(opts.host))}:${port}`,
    listening: `${hostForUrl(opts.host)}:${port}`,
    port,
    ...(localPort !== undefined && { localUrl: `mqtt://127.0.0.1:${localPort}` }),
    ...(ws && {
      wsUrl: `${scheme.ws}://${hostForUrl(connectHost(opts.host))}:${ws.port}`,
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

/** Nothing known yet of any connection. */
function newConnections(log: (line: string) => void, limits: BrokerLimits): Connections {
  return {
    log,
    limits,
    principalOf: new WeakMap(),
    byId: new Map(),
    routes: new OutputRoutes(log),
    sent: new SentRequests(),
    socketOf: new WeakMap(),
    clientOf: new WeakMap(),
    logged: new WeakSet(),
  };
}

/** Counts each client's traffic under its id and logs every client dropped for a reason not logged already. */
function watchClients(aedes: Aedes, traffic: TrafficMeter, conns: Connections): void {
  const { log, logged, socketOf, clientOf, byId } = conns;
  aedes.on("client", (client) => {
    if (client.conn) clientOf.set(client.conn, client);
    byId.set(client.id, client);
    const socket = client.conn && socketOf.get(client.conn);
    if (socket) traffic.identify(socket, client.id);
  });
  aedes.on("clientDisconnect", (client) => {
    if (byId.get(client.id) === client) byId.delete(client.id);
  });
  aedes.on("publish", (packet, client) => {
    if (!client) return;
    traffic.published(client.id, packet.topic, packet.payload.length);
    // Accepted by now: a plan from the planner changes who may publish each task's output.
    conns.routes.observe(packet.topic, packet.payload);
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

/** MQTT over WebSocket on its own HTTP(S) server; each connection goes to `accept` as a stream. */
async function listenWebSocket(
  port: number,
  host: string,
  accept: (socket: Socket, conn: Duplex, req: IncomingMessage) => void,
  tls: TlsOptions | undefined,
): Promise<WebSocketListener> {
  const http = tls ? createHttpsServer(tls) : createHttpServer();
  const listened = await listen(http, port, host, tls ? "wss" : "ws");
  // Only once listening: the WebSocket server re-emits its http server's errors, and one
  // from a failed listen would be unhandled.
  const wss = new WebSocketServer({ server: http });
  wss.on("connection", (ws, req) => accept(req.socket, createWebSocketStream(ws), req));
  return { http, wss, port: listened };
}

/** A certificate and key; with a CA, only clients with a certificate it signed get through the handshake. */
const tlsServerOptions = (tls: ServerTls): TlsOptions => ({
  cert: tls.cert,
  key: tls.key,
  ...(tls.ca && { ca: tls.ca, requestCert: true, rejectUnauthorized: true }),
});

/** A TLS server for MQTT; a failed handshake (a client that does not trust the certificate, or has none) leaves a log line. */
function tlsListener(tls: TlsOptions, onSocket: (socket: Socket) => void, log: (line: string) => void): Server {
  const server = createTlsServer(tls, onSocket);
  server.on("tlsClientError", (err, socket) => log(`connection from ${remote(socket)} dropped: TLS: ${err.message}`));
  return server;
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

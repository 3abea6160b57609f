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
 */
import { once } from "node:events";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Aedes, type AedesOptions, type AuthenticateError, type Client } from "aedes";
import { WebSocketServer, createWebSocketStream } from "ws";
import { EdgefuseError, errorMessage } from "../core/errors.js";
import { isHashed, mayRead, publishDenial, verifyPassword, type AuthFile, type AuthUser } from "./auth.js";
import { BrokerError } from "./errors.js";
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
const BAD_USERNAME_OR_PASSWORD = 4;

/** What the broker knows of its connections, shared by its hooks and event handlers. */
interface Connections {
  readonly log: (line: string) => void;
  readonly userOf: WeakMap<Client, AuthUser>;
  readonly socketOf: WeakMap<Duplex, Socket>;
  /** Refusals logged where they happen; aedes then reports them again as client errors. */
  readonly logged: WeakSet<Error>;
}

export async function startBroker(options: Partial<BrokerOptions> = {}): Promise<RunningBroker> {
  const opts = { ...brokerDefaults, ...options } satisfies BrokerOptions;
  const traffic = new TrafficMeter();
  const conns: Connections = { log: opts.log, userOf: new WeakMap(), socketOf: new WeakMap(), logged: new WeakSet() };
  const sockets = new Set<Socket>();

  const aedes = await Aedes.createBroker({
    ...(opts.auth ? accessControl(opts.auth, conns) : {}),
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
  const socket = client.conn && conns.socketOf.get(client.conn);
  return socket ? `client ${client.id} (${remote(socket)})` : `client ${client.id}`;
}

/** The login check and the publish ACL of auth.ts, as aedes hooks; each refusal leaves one log line. */
function accessControl(auth: AuthFile, conns: Connections): Pick<AedesOptions, "authenticate" | "authorizePublish"> {
  const { log, userOf, logged } = conns;
  const users = new Map(auth.users.map((u) => [u.username, u]));
  for (const u of users.values())
    if (!isHashed(u.password)) log(`warning: user ${u.username} has a plain-text password`);

  function authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const refuse = (why: string) => {
      log(`refused ${describe(conns, client)}: ${why}`);
      const error = Object.assign(new Error(why), { returnCode: BAD_USERNAME_OR_PASSWORD }) as AuthenticateError;
      logged.add(error);
      done(error, false);
    };
    const user = username === undefined ? undefined : users.get(username);
    if (!user) {
      refuse(username === undefined ? "no username" : `unknown user ${username}`);
      return;
    }
    verifyPassword(password?.toString("utf8") ?? "", user.password).then(
      (ok) => {
        if (!ok) {
          refuse(`wrong password for ${username}`);
          return;
        }
        userOf.set(client, user);
        done(null, true);
      },
      (err: unknown) => refuse(`password check failed: ${errorMessage(err)}`),
    );
  }

  function authorizePublish(
    client: Client | null,
    packet: { topic: string },
    done: (error?: Error | null) => void,
  ): void {
    if (!client) {
      done(null); // the broker's own $SYS messages
      return;
    }
    const user = userOf.get(client);
    const denial = user ? publishDenial(user, packet.topic) : "not logged in";
    if (!denial) {
      done(null);
      return;
    }
    log(`denied publish on ${packet.topic} by ${describe(conns, client)}: ${denial}`);
    const error = new Error(denial);
    logged.add(error);
    done(error);
  }

  return { authenticate, authorizePublish };
}

/** Counts each client's traffic under its id and logs every client dropped for a reason not logged already. */
function watchClients(aedes: Aedes, traffic: TrafficMeter, conns: Connections): void {
  const { log, logged, socketOf } = conns;
  aedes.on("client", (client) => {
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

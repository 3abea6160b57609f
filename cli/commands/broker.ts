/**
 * `edgefuse broker`: run the embedded MQTT broker (broker/server.ts) until SIGINT or
 * SIGTERM, then print what each client sent and received. Without --auth a client is
 * anonymous and a guest (it sends requests and reads their results) and the broker
 * listens on loopback only; --insecure trusts anonymous clients with everything, on any
 * address. --tls-cert/--tls-key serve MQTT (and WebSocket) over TLS.
 *
 * `edgefuse broker --hash-password` reads a password from stdin and prints the
 * scrypt hash to put in an auth file (broker/auth.ts).
 */
import { createInterface } from "node:readline";
import { loadAuthFile, hashPassword } from "../../broker/auth.js";
import { brokerLimitDefaults } from "../../broker/limits.js";
import { brokerDefaults, startBroker, type BrokerOptions } from "../../broker/server.js";
import { serverTls } from "../../broker/tls.js";
import type { ClientTraffic } from "../../broker/traffic.js";
import { defineCommand, flag, type FlagRule } from "../command.js";
import { defineFlags, type FlagValues } from "../flags.js";
import { untilSignal } from "../connection.js";
import { reachText, withPortHint } from "../listen.js";

/** Who may use an embedded broker and how it is reached: `broker`'s, `up`'s and `demo`'s flags. */
export const brokerAccessFlags = defineFlags({
  insecure: {
    description:
      "no --auth: let anonymous clients do anything (read the model, publish plans) and listen beyond loopback; only on a network of your own",
  },
  "tls-cert": {
    value: "FILE",
    description: "serve MQTT over TLS (mqtts://, and wss:// for --ws-port) with this certificate (PEM); with --tls-key",
  },
  "tls-key": { value: "FILE", description: "the TLS certificate's private key (PEM)" },
  "tls-ca": {
    value: "FILE",
    description: "with --tls-cert: only clients with a certificate this CA signed get in (PEM)",
  },
});

type AccessFlags = FlagValues<typeof brokerAccessFlags> & { auth?: string | undefined };

export const brokerAccessRules: FlagRule<AccessFlags>[] = [
  {
    flag: "insecure",
    message: "--insecure is for a broker without users: with --auth, anonymous clients are refused",
    holds: (o) => !(o.insecure && o.auth),
  },
  {
    flag: "tls-cert",
    message: "--tls-cert and --tls-key go together",
    holds: (o) => (o["tls-cert"] === undefined) === (o["tls-key"] === undefined),
  },
  { flag: "tls-ca", message: "--tls-ca goes with --tls-cert", holds: (o) => !(o["tls-ca"] && !o["tls-cert"]) },
];

/** The broker options the access flags say, their files read. */
export async function brokerAccess(o: AccessFlags): Promise<Pick<BrokerOptions, "auth" | "anonymous" | "tls">> {
  const [auth, tls] = await Promise.all([
    o.auth === undefined ? undefined : loadAuthFile(o.auth),
    o["tls-cert"] === undefined || o["tls-key"] === undefined
      ? undefined
      : serverTls({ cert: o["tls-cert"], key: o["tls-key"], ca: o["tls-ca"] }),
  ]);
  return { ...(auth && { auth }), anonymous: o.insecure ? "trusted" : "guest", ...(tls && { tls }) };
}

const flags = defineFlags({
  port: {
    value: "P",
    description: "TCP port for MQTT (0 = any free port)",
    schema: flag.port(),
    default: String(brokerDefaults.port),
  },
  host: {
    value: "ADDRESS",
    description: "address to listen on; 0.0.0.0 lets other machines connect",
    default: brokerDefaults.host,
  },
  auth: {
    value: "FILE",
    description:
      "users, password hashes and roles (JSON); without it clients are anonymous guests: they send requests and read their results",
  },
  ...brokerAccessFlags,
  "ws-port": {
    value: "P",
    description: "also serve MQTT over WebSocket on this port (0 = any free port)",
    schema: flag.port(),
  },
  "max-packet": {
    value: "BYTES",
    description: `largest MQTT packet a client may send; a client that sends a bigger one is dropped (default ${brokerLimitDefaults.maxPacketBytes}; devices' --max-packet must not exceed it)`,
    schema: flag.int("a byte count").refine((n) => n >= 4096, "must be ≥ 4096 bytes, the smallest device --max-packet"),
  },
  "max-retained": {
    value: "BYTES",
    description: `bound on all retained messages together; past it a message is delivered but not retained (default ${brokerLimitDefaults.maxRetainedBytes})`,
    schema: flag.int("a byte count"),
  },
  "hash-password": { description: "read a password on stdin, print its scrypt hash for --auth files, and exit" },
});

export type BrokerFlags = FlagValues<typeof flags>;

const rules: FlagRule<BrokerFlags>[] = [...brokerAccessRules];

/**
 * Runs the broker until `stop` settles. `out` gets the lines meant for the user;
 * `log` the broker's refusals and dropped clients.
 */
export async function serveBroker(
  flags: BrokerFlags,
  stop: Promise<unknown>,
  out: (line: string) => void,
  log: (line: string) => void = brokerDefaults.log,
): Promise<void> {
  const options: Partial<BrokerOptions> = {
    log,
    port: flags.port,
    host: flags.host,
    ...(flags["ws-port"] !== undefined && { wsPort: flags["ws-port"] }),
    ...(await brokerAccess(flags)),
    limits: {
      ...(flags["max-packet"] !== undefined && { maxPacketBytes: flags["max-packet"] }),
      ...(flags["max-retained"] !== undefined && { maxRetainedBytes: flags["max-retained"] }),
    },
  };
  const broker = await startBroker(options).catch((err: unknown) => {
    throw withPortHint(err, { port: flags.port, "ws-port": flags["ws-port"] });
  });
  const ws = broker.wsUrl ? ` and ${schemeOf(broker.wsUrl)}://${broker.wsListening}` : "";
  out(
    `edgefuse broker listening on ${schemeOf(broker.url)}://${broker.listening}${ws} (${whoGetsIn(flags)}; ${reachText(flags.host, broker.port)})`,
  );
  await stop;
  const traffic = broker.bytes();
  await broker.close();
  out("edgefuse broker stopped; traffic per client:");
  for (const line of trafficTable(traffic)) out(line);
}

/** Who may connect, for the line that says where the broker listens. */
export const whoGetsIn = (o: AccessFlags): string =>
  o.auth
    ? `users from ${o.auth}`
    : o.insecure
      ? "anonymous clients trusted with everything (--insecure)"
      : "anonymous guests";

const schemeOf = (url: string) => url.slice(0, url.indexOf("://"));

/** Counters as an aligned text table, busiest client first. */
export function trafficTable(traffic: Record<string, ClientTraffic>): string[] {
  const rows = Object.entries(traffic)
    .sort(([, a], [, b]) => b.bytesIn + b.bytesOut - (a.bytesIn + a.bytesOut))
    .map(([id, t]) => [id, t.bytesIn, t.bytesOut, t.messagesIn, t.messagesOut].map(String));
  if (!rows.length) return ["  (no clients)"];
  const table = [["client", "bytesIn", "bytesOut", "messagesIn", "messagesOut"], ...rows];
  const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
  return table.map(
    (row) =>
      `  ${row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join("  ")}`,
  );
}

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write("password: ");
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  return "";
}

export const brokerCommand = defineCommand({
  name: "broker",
  flags,
  rules,
  async run(flags) {
    if (flags["hash-password"]) {
      const password = await readPassword();
      if (!password) {
        console.error("edgefuse broker: no password on stdin");
        return 2;
      }
      console.log(await hashPassword(password));
      return 0;
    }
    await serveBroker(flags, untilSignal(), (line) => console.log(line));
    return 0;
  },
});

/** What the commands that serve MQTT (`broker`, `up`, `demo`) say about where they listen. */
import { networkInterfaces } from "node:os";
import { EdgefuseError } from "../core/errors.js";
import { PortInUseError } from "../broker/server.js";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);
const EVERY_INTERFACE = new Set(["0.0.0.0", "::"]);

/** This machine's IPv4 addresses other machines can reach, for the join hint. */
function lanAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === "IPv4" && !a.internal)
    .map((a) => a!.address);
}

/** Who can connect to a broker listening at host:port, and with which --broker. */
export function reachText(host: string, port: number): string {
  if (LOOPBACK.has(host)) return "this machine only; --host 0.0.0.0 lets devices on the network join";
  if (!EVERY_INTERFACE.has(host)) return `devices join with --broker mqtt://${host}:${port}`;
  const urls = lanAddresses().map((a) => `mqtt://${a}:${port}`);
  return `every interface: devices join with --broker ${urls.length ? urls.join(" or ") : `mqtt://<this machine's address>:${port}`}`;
}

/** A taken port, said with the flag that picks another; any other error passes through. */
export function withPortHint(err: unknown, flagOfPort: Readonly<Record<string, number | undefined>>): unknown {
  if (!(err instanceof PortInUseError)) return err;
  const flag = Object.entries(flagOfPort).find(([, port]) => port === err.port)?.[0] ?? "port";
  return new EdgefuseError(err.code, `${err.message}; pick another with --${flag}`);
}

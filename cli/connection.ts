/** Flags every actor command shares to reach the broker, parsed once here. */
import { z } from "zod";
import { type Bus, connectBus } from "../broker/bus.js";
import type { ConnectOptions } from "../broker/client.js";
import { clientTls } from "../broker/tls.js";
import { ID_PATTERN } from "../broker/topics.js";
import { flag } from "./command.js";
import { defineFlags } from "./flags.js";
import { DEFAULT_MAX_PACKET_BYTES } from "../broker/client.js";

export const brokerUrlSchema = z
  .string()
  .regex(/^(mqtts?|wss?):\/\/./, "expected mqtt://host:port (or mqtts, ws, wss)");
export const idSchema = z.string().regex(ID_PATTERN, "expected 1-64 of [A-Za-z0-9._:-]");

/** The largest message sent in one packet; bigger tensors and shards are chunked (a broker's packet limit). */
export const maxPacketFlag = {
  value: "BYTES",
  description: "largest MQTT packet to send; bigger tensors and shards travel in chunks",
  schema: flag.int("a byte count").refine((n) => n >= 4096, "must be ≥ 4096 bytes"),
  default: String(DEFAULT_MAX_PACKET_BYTES),
} as const;

/** TLS to a broker that serves mqtts:// or wss:// with a certificate of its own CA, or asks for client certificates. */
export const tlsFlags = defineFlags({
  ca: {
    value: "FILE",
    description:
      "with mqtts:// or wss://: trust this CA's (or this self-signed) certificate (PEM) instead of the system's",
  },
  cert: { value: "FILE", description: "a client certificate (PEM) for a broker that asks for one; with --key" },
  key: { value: "FILE", description: "the client certificate's private key (PEM)" },
});

export const connectionFlags = defineFlags({
  broker: {
    value: "URL",
    description: "the MQTT broker: mqtt://host:port (or mqtts, ws, wss)",
    schema: brokerUrlSchema,
    default: "mqtt://127.0.0.1:1883",
  },
  deployment: {
    value: "ID",
    description: "the deployment, the topic level edgefuse/v1/<ID>/",
    schema: idSchema,
    default: "default",
  },
  username: { value: "NAME", description: "MQTT user name; the password is read from EDGEFUSE_MQTT_PASSWORD" },
  ...tlsFlags,
  "max-packet": maxPacketFlag,
});

export type TlsFlags = { ca?: string | undefined; cert?: string | undefined; key?: string | undefined };

export type ConnectionFlags = TlsFlags & {
  broker: string;
  deployment: string;
  username?: string | undefined;
  "max-packet": number;
};

/** Who this actor is to the broker and what it trusts: --username with EDGEFUSE_MQTT_PASSWORD, and the TLS files, read. */
export async function brokerLogin(
  o: TlsFlags & { username?: string | undefined },
): Promise<Pick<ConnectOptions, "username" | "password" | "tls">> {
  const tls = await clientTls(o);
  return {
    ...(o.username !== undefined && { username: o.username }),
    ...(process.env.EDGEFUSE_MQTT_PASSWORD !== undefined && { password: process.env.EDGEFUSE_MQTT_PASSWORD }),
    ...(tls && { tls }),
  };
}

/** A Bus to the broker the flags name, chunking to --max-packet. */
export async function connect(o: ConnectionFlags, clientId: string, extra: Partial<ConnectOptions> = {}): Promise<Bus> {
  return connectBus(o.broker, {
    clientId,
    ...(await brokerLogin(o)),
    maxPacketBytes: o["max-packet"],
    ...extra,
  });
}

/** Resolves on the first SIGINT or SIGTERM. */
export const untilSignal = () =>
  new Promise<NodeJS.Signals>((resolve) => {
    const on = (s: NodeJS.Signals) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(s);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });

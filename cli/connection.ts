/** Flags every actor command shares to reach the broker, parsed once here. */
import { z } from "zod";
import { connectBroker, type ConnectOptions, type MqttClient } from "../broker/client.js";
import { ID_PATTERN } from "../broker/topics.js";
import { flag } from "./command.js";

export const connectionOptions = {
  broker: { type: "string" },
  deployment: { type: "string" },
  username: { type: "string" },
  "max-packet": { type: "string" },
} as const;

export const connectionFlags = {
  broker: z.string().regex(/^(mqtts?|wss?):\/\/./, "expected mqtt://host:port (or mqtts, ws, wss)").default("mqtt://127.0.0.1:1883"),
  deployment: z.string().regex(ID_PATTERN, "expected 1-64 of [A-Za-z0-9._:-]").default("default"),
  username: z.string().optional(),
  /** Tensors and shards larger than this are chunked (a broker's packet limit). */
  "max-packet": flag.int("a byte count").refine((n) => n >= 4096, "must be ≥ 4096 bytes").default(256 * 1024),
};
export const CONNECTION_USAGE = "[--broker mqtt://HOST:PORT] [--deployment ID] [--username NAME] [--max-packet BYTES]   (password: EDGEFUSE_MQTT_PASSWORD)";

export type ConnectionFlags = { broker: string; deployment: string; username?: string; "max-packet": number };

export function connect(o: ConnectionFlags, clientId: string, extra: Partial<ConnectOptions> = {}): Promise<MqttClient> {
  return connectBroker(o.broker, { clientId, username: o.username, password: process.env.EDGEFUSE_MQTT_PASSWORD, ...extra });
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

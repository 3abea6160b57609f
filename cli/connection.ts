/** Flags every actor command shares to reach the broker, parsed once here. */
import { z } from "zod";
import { type Bus, connectBus } from "../broker/bus.js";
import type { ConnectOptions } from "../broker/client.js";
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
  "max-packet": maxPacketFlag,
});

export type ConnectionFlags = {
  broker: string;
  deployment: string;
  username?: string | undefined;
  "max-packet": number;
};

/** A Bus to the broker the flags name, chunking to --max-packet. */
export function connect(o: ConnectionFlags, clientId: string, extra: Partial<ConnectOptions> = {}): Promise<Bus> {
  return connectBus(o.broker, {
    clientId,
    username: o.username,
    password: process.env.EDGEFUSE_MQTT_PASSWORD,
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

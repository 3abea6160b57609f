/**
 * `edgefuse view`: serves the live view's page (view/server.ts) for a deployment on any
 * broker that serves MQTT over WebSocket; the page reads it as the --username given (a
 * viewer, auth.ts), or anonymously. `up --view` serves the same page for its own broker.
 */
import { z } from "zod";
import { defineCommand, flag } from "../command.js";
import { idSchema, untilSignal } from "../connection.js";
import { defineFlags } from "../flags.js";
import { withPortHint } from "../listen.js";

/** `up --view [PORT]`: the page's port, any free one when given bare. */
export const viewFlag = {
  value: "PORT",
  description:
    "also serve the live view (a web page) on this HTTP port, with each request's annotated image (as --publish-annotated); bare: any free port",
  schema: flag.port(),
  bare: "0",
} as const;

const flags = defineFlags({
  port: {
    value: "P",
    description: "the page's HTTP port (0 = any free port)",
    schema: flag.port(),
    default: "8080",
  },
  host: {
    value: "ADDRESS",
    description: "address the page is served on; whoever reaches it reads what the viewer login reads",
    default: "127.0.0.1",
  },
  broker: {
    value: "URL",
    description: "the broker's MQTT-over-WebSocket listener, as the browser reaches it: ws://host:port (or wss://)",
    schema: z
      .string()
      .regex(/^wss?:\/\/./, "expected ws://host:port or wss://host:port (the page speaks MQTT over WebSocket)"),
    default: "ws://127.0.0.1:9001",
  },
  deployment: {
    value: "ID",
    description: "the deployment, the topic level edgefuse/v1/<ID>/",
    schema: idSchema,
    default: "default",
  },
  username: {
    value: "NAME",
    description: "a viewer's MQTT user name; the password is read from EDGEFUSE_MQTT_PASSWORD (and handed to the page)",
  },
});

/** Serves the page until Ctrl-C. */
export const viewCommand = defineCommand({
  name: "view",
  flags,
  run: async (o) => {
    const [{ startViewServer }, { viewConfig }] = await Promise.all([
      import("../../view/server.js"),
      import("../../view/config.js"),
    ]);
    const login =
      o.username === undefined ? undefined : { username: o.username, password: process.env.EDGEFUSE_MQTT_PASSWORD };
    const server = await startViewServer({
      host: o.host,
      port: o.port,
      config: viewConfig({ deployment: o.deployment, broker: o.broker, login }),
      log: (line) => console.error(line),
    }).catch((err: unknown) => {
      throw withPortHint(err, { port: o.port });
    });
    console.error(`edgefuse view: ${server.url} (deployment '${o.deployment}' on ${o.broker}); Ctrl-C stops`);
    await untilSignal();
    await server.close();
  },
});

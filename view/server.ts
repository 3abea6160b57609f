/**
 * The live view's web server (`edgefuse view`, `up --view`): one page and its assets over
 * plain HTTP, every one from this package or its node_modules, so it works offline. The
 * page itself connects to the broker over MQTT-over-WebSocket as a viewer (auth.ts) with
 * what /config.json tells it (config.ts); this server never touches the broker.
 *
 * Whoever reaches the page reads what the viewer login reads: the server listens on
 * loopback unless told otherwise.
 */
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { createServer, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { EdgefuseError, errorMessage } from "../core/errors.js";
import { PACKAGE_ROOT } from "../core/paths.js";
import { PortInUseError } from "../broker/server.js";
import type { ViewConfig } from "./config.js";

const require = createRequire(import.meta.url);
/** The page's own files: HTML and CSS as written, its scripts as tsc compiled them (view/page/*.ts). */
const PAGE_DIR = join(PACKAGE_ROOT, "view", "page");
const SCRIPT_DIR = join(PACKAGE_ROOT, "dist", "view", "page");

/** Every path the server answers, and the file behind it: nothing else on disk is reachable. */
const ASSETS: Readonly<Record<string, { file: () => string; type: string }>> = {
  "/": { file: () => join(PAGE_DIR, "index.html"), type: "text/html; charset=utf-8" },
  "/style.css": { file: () => join(PAGE_DIR, "style.css"), type: "text/css; charset=utf-8" },
  // The libraries' browser bundles, as their packages ship them.
  "/vendor/mqtt.min.js": {
    file: () => join(dirname(require.resolve("mqtt/package.json")), "dist", "mqtt.min.js"),
    type: "text/javascript; charset=utf-8",
  },
  "/vendor/chart.umd.min.js": {
    file: () => join(dirname(require.resolve("chart.js")), "chart.umd.min.js"),
    type: "text/javascript; charset=utf-8",
  },
};
const PAGE_SCRIPT = /^\/app\/([a-z-]+\.js)$/;

export interface ViewServerOptions {
  readonly host: string;
  /** 0 picks a free one (ViewServer.url says which). */
  readonly port: number;
  readonly config: ViewConfig;
  readonly log: (line: string) => void;
}

export interface ViewServer {
  /** `http://host:port/` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startViewServer(o: ViewServerOptions): Promise<ViewServer> {
  const config = JSON.stringify(o.config);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://view").pathname;
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "GET only\n");
    if (path === "/config.json") return send(res, 200, "application/json", config);
    if (path === "/favicon.ico") return send(res, 204, "image/x-icon", "");
    const script = PAGE_SCRIPT.exec(path)?.[1];
    const asset = script
      ? { file: () => join(SCRIPT_DIR, script), type: "text/javascript; charset=utf-8" }
      : ASSETS[path];
    if (!asset) return send(res, 404, "text/plain", `no ${path} here\n`);
    readFile(asset.file()).then(
      (body) => send(res, 200, asset.type, body),
      (err: unknown) => {
        o.log(`view: cannot serve ${path}: ${errorMessage(err)}`);
        send(res, 404, "text/plain", `no ${path} here\n`);
      },
    );
  });
  const port = await listen(server, o.host, o.port);
  const shown = o.host.includes(":") ? `[${o.host}]` : o.host === "0.0.0.0" ? "127.0.0.1" : o.host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  // The page and its data change with each run: never from a cache.
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

async function listen(server: Server, host: string, port: number): Promise<number> {
  try {
    server.listen(port, host);
    await once(server, "listening");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") throw new PortInUseError(host, port);
    throw new EdgefuseError("view", `cannot listen on ${host}:${port}: ${errorMessage(err)}`);
  }
  const address = server.address();
  if (!address || typeof address === "string") throw new EdgefuseError("view", "listening, but on no TCP port");
  return address.port;
}

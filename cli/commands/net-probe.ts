/**
 * `edgefuse net-probe`: measure the rate a link really carries between two hosts,
 * both ways, with plain TCP. `serve` runs on one end (a device), `measure HOST` on the
 * other (the broker's host); it is how the container stack checks each device's
 * shaping (test/compose), and how a researcher checks their own.
 *
 * The counting and the flood are the lab's (lab/probe.ts), so namespaces and
 * containers measure the same way. One connection per direction; the client opens
 * it with a one-line JSON request:
 *   {"direction":"upload", warmupMs, durationMs}   client → server; the server
 *     counts and answers with one JSON line {bytes, seconds};
 *   {"direction":"download"}                       server → client; the client counts.
 * The receiver always measures: only arrival times show the link's rate.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { z } from "zod";
import { LabError, errorMessage } from "../../core/errors.js";
import { floodSocket, meterArrivals, type ProbeResult } from "../../lab/probe.js";
import { defineCommand, flag, usageError } from "../command.js";
import { defineFlags } from "../flags.js";

/** iperf3's port: the one people expect a throughput probe on. */
export const NET_PROBE_PORT = 5201;

export const netProbeDefaults = { warmupMs: 500, durationMs: 3000 };
/** Connect, the last queued bytes and a slow peer, on top of warm-up + duration. */
const SLACK_MS = 10_000;

const request = z.discriminatedUnion("direction", [
  z.object({
    direction: z.literal("upload"),
    warmupMs: z.number().int().nonnegative(),
    durationMs: z.number().int().positive(),
  }),
  z.object({ direction: z.literal("download") }),
]);
type ProbeRequest = z.output<typeof request>;

const resultSchema = z.object({ bytes: z.number().nonnegative(), seconds: z.number().positive() });

export interface Rate extends ProbeResult {
  readonly mbit: number;
}
export interface NetProbeReport {
  readonly host: string;
  readonly port: number;
  /** This host → HOST. */
  readonly upload: Rate;
  /** HOST → this host. */
  readonly download: Rate;
}

const withMbit = (r: ProbeResult): Rate => ({ ...r, mbit: (r.bytes * 8) / r.seconds / 1e6 });

/** A JSON line from the peer, checked by `schema`; anything else is a LabError naming the line. */
function parseLine<S extends z.ZodType>(schema: S, line: string, what: string): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new LabError(`${what}: not JSON: ${line.slice(0, 200)}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new LabError(`${what}: ${parsed.error.issues[0]!.message} in ${line.slice(0, 200)}`);
  return parsed.data;
}

/** Reads one newline-terminated line off `socket`, then stops listening; bytes after it are dropped (they fall in the warm-up). */
function readLine(socket: Socket, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (data: Buffer): void => {
      text += data.toString("latin1");
      const nl = text.indexOf("\n");
      if (nl < 0) {
        if (text.length > 4096) done(new LabError(`${what}: no line within 4 KiB`));
        return;
      }
      done(undefined, text.slice(0, nl));
    };
    const onClose = (): void => done(new LabError(`${what}: connection closed before a line arrived`));
    const done = (err?: Error, line?: string): void => {
      socket.off("data", onData);
      socket.off("close", onClose);
      if (err) reject(err);
      else resolve(line!);
    };
    socket.on("data", onData);
    socket.once("close", onClose);
  });
}

/** Answers rate probes until closed. Each connection carries one request. */
export function serveNetProbe(port: number, host: string, log: (line: string) => void = () => {}): Promise<Server> {
  const server = createServer((socket) => {
    // A client that hangs up mid-flood is the normal end of a download.
    socket.on("error", () => {});
    void answer(socket).catch((err: unknown) => {
      log(`net-probe: ${socket.remoteAddress}: ${errorMessage(err)}`);
      socket.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", (err) => reject(new LabError(`net-probe: cannot listen on ${host}:${port}: ${err.message}`)));
    server.listen(port, host, () => resolve(server));
  });
}

async function answer(socket: Socket): Promise<void> {
  const req: ProbeRequest = parseLine(request, await readLine(socket, "request"), "bad request");
  if (req.direction === "download") {
    floodSocket(socket);
    return;
  }
  const result = await meterArrivals(socket, req.warmupMs, req.durationMs);
  // The reverse direction is idle during an upload, so the answer is not queued behind the flood.
  socket.end(`${JSON.stringify(result)}\n`);
  socket.setTimeout(5000, () => socket.destroy());
}

/** One direction against a `serve` at host:port. */
async function probeOnce(
  host: string,
  port: number,
  direction: "upload" | "download",
  warmupMs: number,
  durationMs: number,
): Promise<ProbeResult> {
  const what = `net-probe ${direction} ${host}:${port}`;
  const socket = connect(port, host);
  const timer = setTimeout(
    () => socket.destroy(new LabError(`${what}: no result within ${warmupMs + durationMs + SLACK_MS} ms`)),
    warmupMs + durationMs + SLACK_MS,
  );
  try {
    const failed = new Promise<never>((_, reject) =>
      socket.once("error", (err) => reject(err instanceof LabError ? err : new LabError(`${what}: ${err.message}`))),
    );
    failed.catch(() => {}); // only raced below; the flood's EPIPE after a finished upload is expected
    await Promise.race([new Promise<void>((resolve) => socket.once("connect", resolve)), failed]);
    const req: ProbeRequest = direction === "upload" ? { direction, warmupMs, durationMs } : { direction };
    socket.write(`${JSON.stringify(req)}\n`);
    if (direction === "download") return await Promise.race([meterArrivals(socket, warmupMs, durationMs), failed]);
    const answer = readLine(socket, `${what}: answer`);
    floodSocket(socket);
    return parseLine(resultSchema, await Promise.race([answer, failed]), `${what}: bad answer`);
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

/** Both directions, one after the other, so they do not share the link. */
export async function measureNetProbe(
  host: string,
  port = NET_PROBE_PORT,
  options: Partial<typeof netProbeDefaults> = {},
): Promise<NetProbeReport> {
  const { warmupMs, durationMs } = { ...netProbeDefaults, ...options };
  const upload = withMbit(await probeOnce(host, port, "upload", warmupMs, durationMs));
  const download = withMbit(await probeOnce(host, port, "download", warmupMs, durationMs));
  return { host, port, upload, download };
}

const flags = defineFlags({
  port: {
    value: "P",
    description: "the probe's TCP port (serve listens on it, measure connects to it)",
    schema: flag.int("a port number").pipe(z.number().min(1).max(65535, "must be at most 65535")),
    default: String(NET_PROBE_PORT),
  },
  host: { value: "ADDRESS", description: "serve: the address to listen on", default: "0.0.0.0" },
  "warmup-ms": {
    value: "MS",
    description: "measure: time before counting starts",
    schema: flag.int("milliseconds"),
    default: String(netProbeDefaults.warmupMs),
  },
  "duration-ms": {
    value: "MS",
    description: "measure: time counted, each direction",
    schema: flag.int("milliseconds").pipe(z.number().min(100, "must be at least 100")),
    default: String(netProbeDefaults.durationMs),
  },
  json: { description: "measure: print the report as JSON" },
});

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
  });
}

export const netProbeCommand = defineCommand({
  name: "net-probe",
  flags,
  positionals: "serve | measure HOST",
  async run(o, usage) {
    const [mode, target, ...extra] = o.positionals;
    if (extra.length) throw usageError(`unexpected arguments: ${extra.join(" ")}`, usage);
    if (mode === "serve") {
      if (target !== undefined)
        throw usageError("serve takes no HOST (use --host to pick the address to listen on)", usage);
      const server = await serveNetProbe(o.port, o.host, (line) => console.error(line));
      console.log(`edgefuse net-probe listening on ${o.host}:${(server.address() as AddressInfo).port}`);
      await untilSignal();
      server.close();
      return 0;
    }
    if (mode !== "measure" || target === undefined) throw usageError("expected 'serve' or 'measure HOST'", usage);
    const report = await measureNetProbe(target, o.port, { warmupMs: o["warmup-ms"], durationMs: o["duration-ms"] });
    if (o.json) {
      console.log(JSON.stringify(report));
    } else {
      const line = (label: string, r: Rate): string =>
        `  ${label.padEnd(24)} ${r.mbit.toFixed(1).padStart(7)} Mbit/s  (${(r.bytes / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(2)} s)`;
      console.log(`link rate to ${target}:${o.port}`);
      console.log(line(`here → ${target}`, report.upload));
      console.log(line(`${target} → here`, report.download));
    }
    return 0;
  },
});

/**
 * The two ends of a rate measurement, run by `node -e` inside lab namespaces. The
 * function is shipped as its own source text (Function.prototype.toString), so it
 * must be self-contained: no imports, no outside names, only `require`.
 *
 * The receiver does the measuring, because only arrival times show the link's rate
 * (a sender's writes land in its socket buffer at memory speed). It skips a warm-up
 * (TCP slow start, tbf's initial bucket), counts bytes over the next durationMs, then
 * prints one JSON line and closes the connection, which ends the sender. The sender
 * starts alongside the receiver and reads the port from stdin, so the two node
 * start-ups overlap.
 */
export type ProbeConfig =
  | { readonly role: "receive"; readonly host: string; readonly warmupMs: number; readonly durationMs: number }
  | { readonly role: "send"; readonly host: string };

/** First stdout line of a receiver: where to connect. */
export interface ProbeListening {
  readonly port: number;
}
/** Second stdout line of a receiver. */
export interface ProbeResult {
  readonly bytes: number;
  readonly seconds: number;
}

export function rateProbe(cfg: ProbeConfig): void {
  const net = require("node:net") as typeof import("node:net");
  const now = (): number => Number(process.hrtime.bigint()) / 1e9;
  if (cfg.role === "send") {
    const host = cfg.host;
    let input = "";
    process.stdin.setEncoding("utf8").on("data", (s: string) => {
      input += s;
      if (!input.includes("\n")) return;
      process.stdin.destroy();
      const chunk = Buffer.alloc(64 * 1024, 0x5a);
      const socket = net.connect(Number(input.trim()), host);
      const pump = (): void => {
        while (socket.write(chunk));
      };
      let connected = false;
      socket.on("connect", () => {
        connected = true;
        pump();
      });
      socket.on("drain", pump);
      socket.on("error", (err: Error) => {
        if (connected) process.exit(0); // the receiver hung up: done
        process.stderr.write(`connect ${host}: ${err.message}\n`);
        process.exit(1);
      });
      socket.on("close", () => process.exit(0));
    });
    return;
  }
  const server = net.createServer((socket) => {
    server.close();
    let first = 0;
    let markAt = 0;
    let markBytes = 0;
    let bytes = 0;
    socket.on("data", (data: Buffer) => {
      const t = now();
      bytes += data.length;
      // A read shorter than node's 64 KiB buffer emptied the socket, so every byte
      // counted so far has arrived by t. Marking on a full read would let a backlog
      // that arrived before the mark be counted inside the window.
      const drained = data.length < 65536;
      if (!first) first = t;
      if (!markAt && drained && t - first >= cfg.warmupMs / 1000) {
        markAt = t;
        markBytes = bytes;
      }
      const elapsed = markAt ? t - markAt : 0;
      if (markAt && ((drained && elapsed >= cfg.durationMs / 1000) || elapsed >= (1.5 * cfg.durationMs) / 1000)) {
        process.stdout.write(`${JSON.stringify({ bytes: bytes - markBytes, seconds: t - markAt })}\n`);
        socket.destroy();
        process.exit(0);
      }
    });
  });
  server.listen(0, cfg.host, () => {
    const address = server.address() as import("node:net").AddressInfo;
    process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  });
}

/** argv that runs the probe with `cfg` in a fresh node. */
export function probeArgv(cfg: ProbeConfig): string[] {
  return [process.execPath, "-e", `(${rateProbe.toString()})(${JSON.stringify(cfg)})`];
}

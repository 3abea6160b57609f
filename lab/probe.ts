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
  if (cfg.role === "send") {
    const host = cfg.host;
    let input = "";
    process.stdin.setEncoding("utf8").on("data", (s: string) => {
      input += s;
      if (!input.includes("\n")) return;
      process.stdin.destroy();
      const socket = net.connect(Number(input.trim()), host);
      let connected = false;
      socket.on("connect", () => {
        connected = true;
        floodSocket(socket);
      });
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
    meterArrivals(socket, cfg.warmupMs, cfg.durationMs).then(
      (result) => {
        process.stdout.write(`${JSON.stringify(result)}\n`);
        socket.destroy();
        process.exit(0);
      },
      (err: Error) => {
        process.stderr.write(`${err.message}\n`);
        process.exit(1);
      },
    );
  });
  server.listen(0, cfg.host, () => {
    const address = server.address() as import("node:net").AddressInfo;
    process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  });
}

/**
 * Counts the bytes arriving on `socket`: skips warmupMs (TCP slow start, tbf's
 * initial bucket), then measures over the next durationMs. Resolves once, then stops
 * listening; rejects if the connection closes first. The receiving end of every rate
 * measurement (lab namespaces and `edgefuse net-probe`). Self-contained like
 * rateProbe, which carries its source text.
 */
export function meterArrivals(
  socket: import("node:net").Socket,
  warmupMs: number,
  durationMs: number,
): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const now = (): number => Number(process.hrtime.bigint()) / 1e9;
    let first = 0;
    let markAt = 0;
    let markBytes = 0;
    let bytes = 0;
    const onClose = (): void =>
      reject(new Error(`connection closed after ${bytes} bytes, before the measurement finished`));
    const onData = (data: Buffer): void => {
      const t = now();
      bytes += data.length;
      // A read shorter than node's 64 KiB buffer emptied the socket, so every byte
      // counted so far has arrived by t. Marking on a full read would let a backlog
      // that arrived before the mark be counted inside the window.
      const drained = data.length < 65536;
      if (!first) first = t;
      // A receiver that never drains is itself the bottleneck (a busy CPU, sender and
      // receiver in one process); after twice the warm-up, measure it rather than hang.
      if (!markAt && (drained || t - first >= (2 * warmupMs) / 1000) && t - first >= warmupMs / 1000) {
        markAt = t;
        markBytes = bytes;
      }
      const elapsed = markAt ? t - markAt : 0;
      if (markAt && ((drained && elapsed >= durationMs / 1000) || elapsed >= (1.5 * durationMs) / 1000)) {
        socket.off("data", onData);
        socket.off("close", onClose);
        resolve({ bytes: bytes - markBytes, seconds: t - markAt });
      }
    };
    socket.on("data", onData);
    socket.once("close", onClose);
  });
}

/** Writes into `socket` as fast as it drains, until it closes. The sending end; self-contained. */
export function floodSocket(socket: import("node:net").Socket): void {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const fill = (): void => {
    while (!socket.destroyed && socket.write(chunk));
  };
  socket.on("drain", fill);
  fill();
}

/** argv that runs the probe with `cfg` in a fresh node. */
export function probeArgv(cfg: ProbeConfig): string[] {
  // rateProbe calls the two helpers by name, so their source travels with it.
  const source = [meterArrivals, floodSocket].map((fn) => fn.toString()).join("\n");
  return [process.execPath, "-e", `${source}\n(${rateProbe.toString()})(${JSON.stringify(cfg)})`];
}

/**
 * Measure what a device's link actually carries: a TCP receiver on one end, a sender
 * on the other, bytes counted at the receiver. "up" is device → hub, "down" is
 * hub → device. The probes run outside the device's CPU quota, so the number is the
 * network's, not the emulated CPU's.
 */
import type { ChildProcess } from "node:child_process";
import { LabError } from "../core/errors.js";
import type { Lab, Place } from "./netns.js";
import { probeArgv, type ProbeListening, type ProbeResult } from "./probe.js";

export type Direction = "up" | "down";

export interface LinkRate {
  readonly device: number;
  readonly direction: Direction;
  readonly setMbit: number;
  readonly mbit: number;
  /** mbit / setMbit; tbf gives about 0.95 of the set rate to TCP payload. */
  readonly ratio: number;
}

export interface MeasureOptions {
  /** Counted traffic per direction; a warm-up comes on top. */
  readonly durationMs?: number;
  /** Skipped at the start: TCP slow start and tbf's full bucket would inflate a short run. */
  readonly warmupMs?: number;
}

const defaults = { durationMs: 2000, warmupMs: 300 } satisfies MeasureOptions;
/** Node start-up, connect and the last queued bytes, on top of warm-up + duration. */
const SLACK_MS = 10_000;

export async function measureLinkRate(
  lab: Lab,
  device: number,
  direction: Direction,
  options: MeasureOptions = {},
): Promise<LinkRate> {
  const { durationMs, warmupMs } = { ...defaults, ...options };
  const what = `device ${device} ${direction}`;
  const deviceAddress = lab.addressOf(device); // also rejects a device the lab does not have
  const [receiverAt, senderAt]: [Place, Place] = direction === "up" ? ["hub", device] : [device, "hub"];
  const host = direction === "up" ? lab.hubAddress : deviceAddress;
  const setMbit = lab.devices[device]!.mbit;

  const spawned: ChildProcess[] = [];
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), warmupMs + durationMs + SLACK_MS);
  try {
    const receiver = lab.exec(receiverAt, probeArgv({ role: "receive", host, warmupMs, durationMs }), {
      cpuLimit: false,
    });
    spawned.push(receiver);
    const sender = lab.exec(senderAt, probeArgv({ role: "send", host }), {
      cpuLimit: false,
      stdio: ["pipe", "ignore", "pipe"],
    });
    spawned.push(sender);
    const lines = lineReader(receiver, `${what}: receiver`, timeout.signal);
    let senderErr = "";
    sender.stderr!.setEncoding("utf8").on("data", (s: string) => (senderErr += s));
    sender.once("close", (code, signal) => {
      if (code !== 0)
        lines.fail(
          new LabError(`${what}: sender exited (${code ?? signal})${senderErr.trim() ? `: ${senderErr.trim()}` : ""}`),
        );
    });
    const { port } = JSON.parse(await lines.next()) as ProbeListening;
    sender.stdin!.on("error", () => {}); // a sender that died shows up as a receiver without a result
    sender.stdin!.write(`${port}\n`);
    const { bytes, seconds } = JSON.parse(await lines.next()) as ProbeResult;
    const mbit = (bytes * 8) / seconds / 1e6;
    return { device, direction, setMbit, mbit, ratio: mbit / setMbit };
  } finally {
    clearTimeout(timer);
    for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

/** Every device's link, up then down. parallel measures all devices at once (shorter, but they share this machine's CPU). */
export async function measureLinks(
  lab: Lab,
  options: MeasureOptions & { readonly devices?: readonly number[]; readonly parallel?: boolean } = {},
): Promise<LinkRate[]> {
  const devices = options.devices ?? lab.devices.map((d) => d.index);
  const results: LinkRate[] = [];
  for (const direction of ["up", "down"] as const) {
    if (options.parallel) {
      results.push(...(await Promise.all(devices.map((d) => measureLinkRate(lab, d, direction, options)))));
    } else {
      for (const d of devices) results.push(await measureLinkRate(lab, d, direction, options));
    }
  }
  return results;
}

/** Lines of a child's stdout, one per next(); rejects with its stderr if it exits first, on abort, or on fail(). */
function lineReader(
  child: ChildProcess,
  what: string,
  abort: AbortSignal,
): { next(): Promise<string>; fail(err: Error): void } {
  let buffered = "";
  let stderr = "";
  const waiting: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  let failure: Error | undefined;
  const fail = (err: Error): void => {
    failure ??= err;
    for (const w of waiting.splice(0)) w.reject(failure);
  };
  const deliver = (): void => {
    while (waiting.length) {
      const nl = buffered.indexOf("\n");
      if (nl < 0) return;
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting.shift()!.resolve(line);
    }
  };
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    buffered += s;
    deliver();
  });
  child.stderr?.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  child.once("error", (err) => fail(new LabError(`${what}: ${err.message}`)));
  child.once("close", (code, signal) =>
    fail(
      new LabError(`${what} exited (${code ?? signal}) before reporting${stderr.trim() ? `: ${stderr.trim()}` : ""}`),
    ),
  );
  abort.addEventListener("abort", () => fail(new LabError(`${what}: no result within the time limit`)), { once: true });
  return {
    fail,
    next: () =>
      new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        deliver();
        if (failure && waiting.length) fail(failure);
      }),
  };
}

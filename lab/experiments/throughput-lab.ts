/**
 * The throughput sweep (throughput.ts) in a namespace lab: one deployment on the
 * default plan, and a camera (`edgefuse camera --json`) started for each rate where the
 * topology puts the broker (paper: on the source device, as a camera wired to it would
 * be), outside that device's CPU quota: the load generator is not part of the device.
 */
import type { Place } from "../netns.js";
import { join } from "node:path";
import { LabError } from "../../core/errors.js";
import { PACKAGE_ROOT } from "../../core/paths.js";
import { decodeJson } from "../../broker/messages.js";
import { type StreamReport, streamReportSchema } from "../../cli/camera-stream.js";
import type { LabPlanning } from "../hub-protocol.js";
import { BROKER_PORT, LAB_DEPLOYMENT, LabSession, type SessionOptions, sessionLayout } from "../session.js";
import { ratesFor, singleRequestMs, sweepRates, throughputDir, writeThroughput } from "./throughput.js";

const EDGEFUSE = join(PACKAGE_ROOT, "bin", "edgefuse");
/** The planner's own choice: least predicted time on the devices' speeds and links. */
const DEFAULT_PLANNING: LabPlanning = { strategy: "auto", ftpEnd: "auto" };
/** How long after the last frame answers may still come: a full queue drains behind it. */
const CAMERA_TIMEOUT_MS = 300_000;

export interface LabThroughputOptions {
  readonly session: Omit<SessionOptions, "log">;
  /** The model's name, for the report. */
  readonly model: string;
  /** Frames per second; default multiples of 1/L (throughput.ts ratesFor). */
  readonly rates?: readonly number[];
  readonly durationS: number;
  /** Where the rows, table and plots go; default docs/results/<today>/throughput-lab-…/. */
  readonly out?: string;
  readonly log: (line: string) => void;
}

/** Runs the sweep and writes its results; resolves with their directory. */
export async function runLabThroughput(o: LabThroughputOptions): Promise<string> {
  const session = await LabSession.open({ ...o.session, log: o.log });
  try {
    o.log(`lab ${session.lab.id}: ${o.session.devices} devices, planning and sending shards`);
    const plan = await session.plan(DEFAULT_PLANNING);
    const place = sessionLayout(o.session).broker;
    const stream = (fps: number, count: number) => labCamera(session, place, o.session.image, fps, count);
    const singleMs = await singleRequestMs(stream);
    o.log(`lab: plan ${plan.planId}, single-request latency ${singleMs.toFixed(0)} ms`);
    const rows = await sweepRates(stream, ratesFor(o.rates, singleMs), o.durationS, o.log);
    const { topology, deviceCpuShare } = session.settings;
    const mbit = session.bandwidthMbit;
    const dir = o.out ?? throughputDir(`lab-${o.model}-${o.session.devices}dev-${mbit}mbit-${topology}`);
    writeThroughput(
      {
        where: `lab, ${topology} topology, ${o.session.devices} devices at ${mbit} Mbit, ${Math.max(...deviceCpuShare)} core each (default plan ${plan.planId}; the source's default admission: in flight auto, queue 16, reject)`,
        model: o.model,
        devices: o.session.devices,
        durationS: o.durationS,
        singleRequestMs: singleMs,
        rows,
      },
      {
        section: "throughput-lab",
        dir,
        heading: `Throughput in the lab: a camera at increasing rates, ${o.model}, ${o.session.devices} devices, ${mbit} Mbit, ${topology} topology`,
      },
    );
    return dir;
  } finally {
    await session.close();
  }
}

/** `edgefuse camera` beside the broker: its JSON report (it exits 1 when a frame went unanswered, and still reports). */
function labCamera(
  session: LabSession,
  place: Place,
  image: string,
  fps: number,
  count: number,
): Promise<StreamReport> {
  const argv = [
    EDGEFUSE,
    "camera",
    "--broker",
    `mqtt://127.0.0.1:${BROKER_PORT}`,
    "--deployment",
    LAB_DEPLOYMENT,
    ...["--fps", String(fps), "--count", String(count), "--timeout-ms", String(CAMERA_TIMEOUT_MS), "--json", image],
  ];
  const child = session.lab.exec(place, argv, { cpuLimit: false, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      const line = stdout.trim().split("\n").at(-1) ?? "";
      try {
        resolve(decodeJson("the lab's camera report", Buffer.from(line), streamReportSchema));
      } catch (err) {
        if (line) return reject(err);
        reject(
          new LabError(
            `the lab's camera exited (${code ?? signal}) without a report: ${stderr.trim().split("\n").slice(-5).join("; ")}`,
          ),
        );
      }
    });
  });
}

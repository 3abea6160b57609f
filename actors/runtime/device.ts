/**
 * What every device process shares: measuring what its process holds before any
 * weights, announcing itself (retained presence, cleared by its last will), following
 * the retained plan, and building the network and the schedule from it.
 */
import { EdgefuseError, PlanError } from "../../core/errors.js";
import { parseCfgText } from "../../dnn/cfg.js";
import { buildNetwork, type Network } from "../../dnn/network.js";
import type { Runtime } from "../../dnn/onnx/runtime.js";
import { uniformPads } from "../../dnn/ops.js";
import type { Bus } from "../../broker/bus.js";
import { encodeJson, type Presence, presenceSchema } from "../../broker/messages.js";
import type { Topics } from "../../broker/topics.js";
import { budgetOf } from "../../planner/roster.js";
import { checkPlanForNetwork, parsePlan, type Plan } from "../../planner/schema.js";
import { collectGarbage } from "./executor.js";
import { buildSchedule, type Schedule } from "./schedule.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../core/paths.js";

export const VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }
).version;

/**
 * What this process holds before any shard: its resident memory once onnxruntime is
 * loaded and has built, run and released a first session (what every real run pays:
 * its allocator, thread pool and kernels), with the MQTT client connected. After a
 * collection where the process allows one (bin/edgefuse runs node with --expose-gc), so
 * start-up garbage is not counted.
 */
export async function measureBaselineBytes(runtime: Runtime): Promise<number> {
  const c = 8;
  const stage = await runtime.compile({
    input: { c, h: 8, w: 8 },
    ops: [
      {
        kind: "conv",
        inC: c,
        outC: c,
        size: 1,
        stride: 1,
        groups: 1,
        pads: uniformPads(0),
        weights: new Float32Array(c * c).fill(0.1),
        bias: new Float32Array(c),
        activation: "leaky",
      },
    ],
  });
  try {
    await stage.run(new Float32Array(c * 8 * 8).fill(0.5));
  } finally {
    await stage.release();
  }
  collectGarbage();
  return process.memoryUsage.rss();
}

/** A device's memory (`--memory`, all of it), its process's share and what is left for weights and activations. */
export interface DeviceMemory {
  readonly memoryBytes: number;
  readonly baselineBytes: number;
  /** What the executor may hold: the budget the planner plans with (planner/roster.ts). */
  readonly budgetBytes: number;
}

const mb = (bytes: number) => `${Number((bytes / 1e6).toFixed(1))} MB`;

/**
 * Measures the baseline unless given (devices sharing one process, as in tests, pass
 * 0: the process is not theirs to count) and refuses a memory that leaves nothing.
 */
export async function deviceMemory(
  deviceId: string,
  runtime: Runtime,
  memoryBytes: number,
  baselineBytes?: number,
): Promise<DeviceMemory> {
  const baseline = Math.round(baselineBytes ?? (await measureBaselineBytes(runtime)));
  const budgetBytes = budgetOf({ memoryBudgetBytes: memoryBytes, baselineBytes: baseline });
  if (budgetBytes <= 0) {
    throw new EdgefuseError(
      "memory",
      `${deviceId}: --memory ${mb(memoryBytes)} is not more than what this process holds before any weights (${mb(baseline)}: node, onnxruntime and MQTT); give it more`,
    );
  }
  return { memoryBytes, baselineBytes: baseline, budgetBytes };
}

/** The will a device connects with: an empty retained presence, so it vanishes when its link drops. */
export const presenceWill = (topics: Topics, deviceId: string) => ({
  topic: topics.worker(deviceId),
  payload: Buffer.alloc(0),
  retain: true,
  qos: 1 as const,
});

/** A device's link rates, bits per second, as given (`--uplink`, `--downlink`); one absent: not limited or not known. */
export type DeviceLinks = Pick<Presence, "uplinkBitsPerSec" | "downlinkBitsPerSec">;

/** What a device says of itself in every presence it publishes: its options' memory, speed and links, its measured baseline. */
export interface DeviceIdentity {
  readonly deviceId: string;
  readonly role: "source" | "worker";
  readonly options: { readonly memoryBudgetBytes: number; readonly gmacPerSec: number } & DeviceLinks;
  readonly memory: Pick<DeviceMemory, "baselineBytes">;
  readonly startedAt: string;
}

/** A device's presence; with `ready`, it says the device is ready for that plan (and, for a worker, the weights it holds). */
export function presenceOf(
  device: DeviceIdentity,
  ready?: { readonly planId: string; readonly weightBytes?: number },
): Presence {
  const { deviceId, role, options, memory, startedAt } = device;
  return {
    workerId: deviceId,
    memoryBudgetBytes: options.memoryBudgetBytes,
    baselineBytes: memory.baselineBytes,
    gmacPerSec: options.gmacPerSec,
    ...linksOf(options),
    startedAt,
    version: VERSION,
    role,
    ...(ready
      ? { readyPlanId: ready.planId, ...(ready.weightBytes === undefined ? {} : { weightBytes: ready.weightBytes }) }
      : {}),
  };
}

/** The rates a device was given, and nothing for those it was not (absent in the presence, not undefined). */
export const linksOf = (links: DeviceLinks): DeviceLinks => ({
  ...(links.uplinkBitsPerSec === undefined ? {} : { uplinkBitsPerSec: links.uplinkBitsPerSec }),
  ...(links.downlinkBitsPerSec === undefined ? {} : { downlinkBitsPerSec: links.downlinkBitsPerSec }),
});

export async function announce(bus: Bus, topics: Topics, presence: Presence): Promise<void> {
  await bus.publish(topics.worker(presence.workerId), encodeJson(presenceSchema, presence), { qos: 1, retain: true });
}

export async function withdraw(bus: Bus, topics: Topics, deviceId: string): Promise<void> {
  if (bus.connected) await bus.publish(topics.worker(deviceId), Buffer.alloc(0), { qos: 1, retain: true });
}

export interface Followed {
  readonly plan: Plan;
  readonly network: Network;
  readonly schedule: Schedule;
}

/** A plan from the wire → its network (from the cfg it carries) and schedule, all checked. */
export function followPlan(payload: Buffer, topic: string): Followed | null {
  if (payload.byteLength === 0) return null; // the planner cleared it
  let value: unknown;
  try {
    value = JSON.parse(payload.toString("utf8"));
  } catch (err) {
    throw new PlanError(`${topic}: not JSON: ${(err as Error).message}`);
  }
  const plan = parsePlan(value, topic);
  const network = buildNetwork(parseCfgText(plan.model.cfg, `plan ${plan.id} cfg`));
  checkPlanForNetwork(plan, network);
  return { plan, network, schedule: buildSchedule(plan, network) };
}

/**
 * What every device process shares: announcing itself (retained presence, cleared by
 * its last will), following the retained plan, and building the network and the
 * schedule from it.
 */
import { PlanError } from "../../core/errors.js";
import { parseCfgText } from "../../dnn/cfg.js";
import { buildNetwork, type Network } from "../../dnn/network.js";
import { type MqttClient } from "../../broker/client.js";
import { encodeJson, type Presence, presenceSchema } from "../../broker/messages.js";
import type { Topics } from "../../broker/topics.js";
import { checkPlanForNetwork, parsePlan, type Plan } from "../../planner/schema.js";
import { buildSchedule, type Schedule } from "./schedule.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../core/paths.js";

export const VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;

/** The will a device connects with: an empty retained presence, so it vanishes when its link drops. */
export const presenceWill = (topics: Topics, deviceId: string) => ({ topic: topics.worker(deviceId), payload: Buffer.alloc(0), retain: true, qos: 1 as const });

export async function announce(client: MqttClient, topics: Topics, presence: Presence): Promise<void> {
  await client.publishAsync(topics.worker(presence.workerId), encodeJson(presenceSchema, presence), { qos: 1, retain: true });
}

export async function withdraw(client: MqttClient, topics: Topics, deviceId: string): Promise<void> {
  if (client.connected) await client.publishAsync(topics.worker(deviceId), Buffer.alloc(0), { qos: 1, retain: true });
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

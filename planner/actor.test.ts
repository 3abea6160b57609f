/**
 * The planner actor over a real (embedded) broker: workers come and go through their
 * retained presence and last will, and a late subscriber always finds the current
 * plan and exactly the shards it names.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { connectBroker, subscribeChunked, type MqttClient } from "../broker/client.js";
import { encodeJson, presenceSchema } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { loadNetwork } from "../dnn/network.js";
import { shardId } from "../dnn/shard.js";
import { readWeights } from "../dnn/weights.js";
import { startEmbedded, useTeardown } from "../test/brokers.js";
import { cfgPath, readOracle } from "../test/shared.js";
import { type PlannerOptions, startPlanner } from "./actor.js";
import { parsePlan, type Plan } from "./schema.js";
import { shardsOf } from "./shards.js";

const teardown = useTeardown();
const oracle = readOracle("yolov2-mini-s7-dog");
const network = loadNetwork(cfgPath("yolov2-mini"));
const weights = readWeights(join(oracle.dir, oracle.weights), network);

async function setup(options: Partial<PlannerOptions> = {}) {
  const broker = teardown.broker(await startEmbedded());
  const topics = topicsFor(`t${Math.random().toString(36).slice(2, 8)}`);
  const logLines: string[] = [];
  const client = teardown.client(await connectBroker(broker.url, { clientId: "planner" }));
  const planner = await startPlanner({ client, deployment: topics.deployment, network, weights, settleMs: 50, log: (l) => logLines.push(l), ...options });
  teardown.add(() => planner.stop());
  const worker = async (id: string, budgetBytes = 64e6): Promise<MqttClient> => {
    const c = teardown.client(await connectBroker(broker.url, { clientId: id, will: { topic: topics.worker(id), payload: "", retain: true } }));
    const presence = { workerId: id, memoryBudgetBytes: budgetBytes, gmacPerSec: 40, startedAt: new Date().toISOString(), version: "0.1.0" };
    await c.publishAsync(topics.worker(id), encodeJson(presenceSchema, presence), { qos: 1, retain: true });
    return c;
  };
  /** What a client connecting now finds retained: the plan and every shard. */
  const retained = async (waitMs = 300): Promise<{ plan: Plan | undefined; shards: Map<string, Buffer> }> => {
    const c = teardown.client(await connectBroker(broker.url));
    let plan: Plan | undefined;
    const shards = new Map<string, Buffer>();
    const errors: Error[] = [];
    const onError = (err: Error) => void errors.push(err);
    const subs = [
      await subscribeChunked(c, topics.plan(), { onMessage: (t, p) => void (p.length && (plan = parsePlan(JSON.parse(p.toString()), t))), onError }),
      await subscribeChunked(c, topics.filters.shards, { onMessage: (t, p) => void (p.length && shards.set(t.split("/").pop()!, p)), onError }),
    ];
    await new Promise((r) => setTimeout(r, waitMs));
    await Promise.all(subs.map((s) => s.unsubscribe()));
    expect(errors).toEqual([]);
    return { plan, shards };
  };
  return { broker, topics, planner, worker, retained, logLines };
}

const expectShardsOf = (plan: Plan, shards: Map<string, Buffer>) => {
  expect([...shards.keys()].sort()).toEqual([...shardsOf(plan).keys()].sort());
  for (const [sha, bytes] of shards) expect(shardId(bytes)).toBe(sha);
};

describe("planner actor", () => {
  it("plans for the workers present, and re-plans when one drops", async () => {
    const { planner, worker, retained } = await setup();
    const first = planner.nextPlan();
    await worker("w1");
    await worker("w2");
    const w3 = await worker("w3");
    const plan3 = (await first)!;
    expect(plan3.devices.map((d) => d.workerId)).toEqual(["w1", "w2", "w3"]);
    const seen = await retained();
    expect(seen.plan).toEqual(plan3);
    expectShardsOf(plan3, seen.shards);

    const second = planner.nextPlan();
    w3.stream.destroy(); // link lost: the last will empties w3's presence
    const plan2 = (await second)!;
    expect(plan2.devices.map((d) => d.workerId)).toEqual(["w1", "w2"]);
    const after = await retained();
    expect(after.plan).toEqual(plan2);
    expectShardsOf(plan2, after.shards); // w3-era shards no longer on the broker
    expect(planner.current()).toEqual(plan2);
  });

  it("ignores a malformed presence, and clears the plan when no worker can hold the model", async () => {
    const { broker, topics, planner, worker, retained, logLines } = await setup();
    const first = planner.nextPlan();
    await worker("w1");
    expect((await first)!.devices).toHaveLength(1);

    const rogue = teardown.client(await connectBroker(broker.url));
    await rogue.publishAsync(topics.worker("w9"), Buffer.from('{"workerId":"w9"}'), { qos: 1 });
    await new Promise((r) => setTimeout(r, 150));
    expect([...planner.roster.keys()]).toEqual(["w1"]);
    expect(logLines, logLines.join("\n")).toContainEqual(expect.stringMatching(new RegExp(`^ignored a message: ${topics.worker("w9")}: field memoryBudgetBytes`)));

    const cleared = planner.nextPlan();
    await worker("tiny", 1000); // 1 kB: no shard of any plan fits
    expect(await cleared).toBeNull();
    expect(logLines).toContainEqual(expect.stringMatching(/^cannot plan for tiny, w1: yolov2-mini needs ≥ \d+\.\d MB of weights per device on 2 devices; budgets are tiny 1 kB, w1 64 MB$/));
    expect((await retained()).plan).toBeUndefined();
  });

  it("waits for minDevices workers before the first plan, then re-plans on every change", async () => {
    const { planner, worker, logLines } = await setup({ minDevices: 3 });
    await worker("w1");
    await worker("w2");
    await new Promise((r) => setTimeout(r, 200));
    expect(planner.current()).toBeUndefined();
    expect(logLines).toContain("waiting for 3 workers before the first plan (2 present)");

    const w3 = await worker("w3");
    let plan = await planner.nextPlan();
    while (plan === null) plan = await planner.nextPlan(); // a re-plan for w1, w2 may still have been running
    expect(plan.devices.map((d) => d.workerId)).toEqual(["w1", "w2", "w3"]);

    const after = planner.nextPlan();
    w3.stream.destroy(); // below minDevices now, but the first plan is out: plan for who is left
    expect((await after)!.devices.map((d) => d.workerId)).toEqual(["w1", "w2"]);
  });
});

/**
 * The planner actor over a real (embedded) broker: workers come and go through their
 * retained presence and last will, a late subscriber always finds the current plan and
 * no shard, a device that asks for a shard of the plan gets exactly its bytes, and a
 * stopped planner leaves no plan behind.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Bus, connectBus } from "../broker/bus.js";
import { encodeJson, type Presence, presenceSchema, shardRequestSchema } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { loadNetwork } from "../dnn/network.js";
import { shardId } from "../dnn/shard.js";
import { readWeights } from "../dnn/weights.js";
import { inbox, startEmbedded, useTeardown } from "../test/brokers.js";
import { logBook } from "../test/faults.js";
import { cfgPath, readOracle } from "../test/fixtures.js";
import { type PlannerActor, type PlannerOptions, startPlanner } from "./actor.js";
import { parsePlan, type Plan } from "./schema.js";
import { shardsOf } from "./shards.js";

const teardown = useTeardown();
const oracle = readOracle("yolov2-mini-s7-dog");
const network = loadNetwork(cfgPath("yolov2-mini"));
const weights = readWeights(join(oracle.dir, oracle.weights), network);

async function setup(options: Partial<PlannerOptions> = {}, plannerConnection: Parameters<typeof connectBus>[1] = {}) {
  const broker = teardown.broker(await startEmbedded());
  const topics = topicsFor(`t${Math.random().toString(36).slice(2, 8)}`);
  const logLines: string[] = [];
  const connect = async (options: Parameters<typeof connectBus>[1] = {}): Promise<Bus> => {
    const bus = await connectBus(broker.url, options);
    teardown.client(bus.client);
    return bus;
  };
  const plannerBus = await connect({ clientId: "planner", ...plannerConnection });
  const planner = await startPlanner({
    bus: plannerBus,
    deployment: topics.deployment,
    network,
    weights,
    settleMs: 50,
    log: (l) => logLines.push(l),
    ...options,
  });
  teardown.add(() => planner.stop());
  // Its first re-plan is for the presences already retained, none: a test's nextPlan() is then for the devices it adds.
  await planner.nextPlan();
  const presenceOf = (id: string, budgetBytes = 64e6, baselineBytes?: number): Presence => ({
    workerId: id,
    memoryBudgetBytes: budgetBytes,
    ...(baselineBytes === undefined ? {} : { baselineBytes }),
    gmacPerSec: 40,
    startedAt: new Date().toISOString(),
    version: "0.1.0",
    role: "worker",
  });
  const announceOn = (c: Bus, presence: Presence) =>
    c.publish(topics.worker(presence.workerId), encodeJson(presenceSchema, presence), { retain: true });
  const deviceBus = (id: string) =>
    connect({ clientId: id, will: { topic: topics.worker(id), payload: "", retain: true } });
  const worker = async (id: string, budgetBytes = 64e6, baselineBytes?: number): Promise<Bus> => {
    const c = await deviceBus(id);
    await announceOn(c, presenceOf(id, budgetBytes, baselineBytes));
    return c;
  };
  /** A worker that says it is ready for every plan it is given, as a real one does once it has prepared its tasks. */
  const readyWorker = async (id: string): Promise<Bus> => {
    const c = await deviceBus(id);
    const presence = presenceOf(id);
    await announceOn(c, presence);
    await c.subscribe(topics.plan(), {
      onMessage: async (t, p) => {
        if (p.byteLength) await announceOn(c, { ...presence, readyPlanId: parsePlan(JSON.parse(p.toString()), t).id });
      },
      onError: () => undefined,
    });
    return c;
  };
  /** A retained presence no device stands behind: published by a client that leaves without a will. */
  const ghost = async (id: string, startedAt: string): Promise<void> => {
    const c = await connectBus(broker.url, { clientId: `ghost-${Math.random().toString(36).slice(2, 8)}` });
    await announceOn(c, { ...presenceOf(id, 8e9), gmacPerSec: 500, startedAt });
    await c.close();
  };
  /** What a client connecting now finds retained in the deployment: the plan, and the kinds of everything else. */
  const retained = async (waitMs = 300): Promise<{ plan: Plan | undefined; others: string[] }> => {
    const c = await connect();
    let plan: Plan | undefined;
    const others: string[] = [];
    const errors: Error[] = [];
    const sub = await c.subscribe(topics.filters.all, {
      onMessage: (t, p, { retain }) => {
        if (!retain || p.length === 0) return;
        if (t === topics.plan()) plan = parsePlan(JSON.parse(p.toString()), t);
        else others.push(topics.parse(t)?.kind ?? t);
      },
      onError: (err) => void errors.push(err),
    });
    await new Promise((r) => setTimeout(r, waitMs));
    await sub.unsubscribe();
    expect(errors).toEqual([]);
    return { plan, others: others.sort() };
  };
  /** Asks for a shard as device `deviceId` does and resolves with what the planner sends back. */
  const ask = async (deviceId: string, sha: string): Promise<Buffer> => {
    // A client id of its own: two connections with one id would take it from each other.
    const c = await connectBus(broker.url, {
      clientId: `asking-${deviceId}-${sha.slice(0, 8)}-${Math.random().toString(36).slice(2, 8)}`,
    });
    try {
      const got = inbox<Buffer>();
      await c.subscribe(topics.deviceShard(deviceId, sha), {
        onMessage: (_t, p) => got.push(p),
        onError: (err) => got.push(Buffer.from(`error: ${err.message}`)),
      });
      await c.publish(topics.shardRequest(deviceId), encodeJson(shardRequestSchema, { sha256: sha }));
      return await got.next(5_000, `shard ${sha.slice(0, 12)}… for ${deviceId}`);
    } finally {
      await c.close({ force: true });
    }
  };
  return { topics, planner, plannerBus, worker, readyWorker, ghost, retained, ask, connect, logLines };
}

const deviceIds = (plan: Plan | null | undefined) => plan?.devices.map((d) => d.workerId) ?? [];

/** The planner's plan once it is for exactly these devices (the current one, or one of the next). */
async function planFor(planner: PlannerActor, devices: readonly string[], timeoutMs = 5_000): Promise<Plan> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`no plan for ${devices.join(", ")} within ${timeoutMs} ms (now: ${deviceIds(planner.current())})`),
        ),
      timeoutMs,
    );
  });
  try {
    let plan = planner.current() ?? null;
    while (deviceIds(plan).join() !== devices.join()) plan = await Promise.race([planner.nextPlan(), timeout]);
    return plan!;
  } finally {
    clearTimeout(timer);
  }
}

/** A regexp that matches `text` literally. */
const literal = (text: string) => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));

/** Every shard the plan names reaches the device that asks for it, byte for byte its hash. */
const expectServed = async (plan: Plan, ask: (deviceId: string, sha: string) => Promise<Buffer>) => {
  const named = [...shardsOf(plan)];
  expect(named.length).toBeGreaterThan(0);
  for (const [sha, users] of named) expect(shardId(await ask(users[0]!, sha))).toBe(sha);
};

describe("planner actor", () => {
  it("plans for the workers present, serves the shards asked for (never retained), and re-plans when one drops", async () => {
    const { planner, worker, retained, ask } = await setup();
    await worker("w1");
    await worker("w2");
    const w3 = await worker("w3");
    const plan3 = await planFor(planner, ["w1", "w2", "w3"]);
    expect(plan3.devices.map((d) => d.workerId)).toEqual(["w1", "w2", "w3"]);
    expect(plan3.model.syntheticWeights).toBe(true); // the weights' header carries edgefuse's marker
    const seen = await retained();
    expect(seen.plan).toEqual(plan3);
    expect(seen.others).toEqual(["worker", "worker", "worker"]); // presences; no shard
    await expectServed(plan3, ask);
    expect(planner.shardsSent()).toBe(shardsOf(plan3).size);

    const second = planner.nextPlan();
    w3.client.stream.destroy(); // link lost: the last will empties w3's presence
    const plan2 = (await second)!;
    expect(plan2.devices.map((d) => d.workerId)).toEqual(["w1", "w2"]);
    const after = await retained();
    expect(after.plan).toEqual(plan2);
    expect(after.others).toEqual(["worker", "worker"]);
    await expectServed(plan2, ask);
    expect(planner.current()).toEqual(plan2);
  });

  it("says nothing of synthetic weights when the weights have no header to tell", async () => {
    const { planner, worker } = await setup({ weights: { read: (i: number) => weights.read(i) } });
    const first = planner.nextPlan();
    await worker("w1");
    expect((await first)!.model.syntheticWeights).toBeUndefined();
  });

  it("answers a shard no plan in force names with an empty payload, and ignores a malformed request", async () => {
    const { topics, planner, worker, ask, connect, logLines } = await setup();
    const first = planner.nextPlan();
    await worker("w1");
    const plan = (await first)!;
    const stale = "ab".repeat(32);
    expect((await ask("w1", stale)).byteLength).toBe(0);
    expect(logLines).toContain(
      `w1 asked for shard ${stale.slice(0, 12)}…, which the plan in force does not name: answered empty`,
    );

    const rogue = await connect();
    await rogue.publish(topics.shardRequest("w1"), '{"sha256":"not hex"}');
    await rogue.publish(`${topics.prefix}shard-requests/not an id!`, JSON.stringify({ sha256: stale }));
    const [sha] = shardsOf(plan).keys();
    expect(shardId(await ask("w1", sha!))).toBe(sha); // still serving
    expect(logLines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^ignored a shard request: ${topics.shardRequest("w1")}: field sha256: expected 64 lowercase hex digits`,
        ),
      ),
    );
    expect(logLines).toContain(
      `ignored a shard request: ${topics.prefix}shard-requests/not an id!: not a shard request topic: expected shard-requests/<deviceId>, the id 1-64 of [A-Za-z0-9._:-]`,
    );
  });

  it("clears the plan when it stops, unless told to keep it for the next planner", async () => {
    const kept = await setup();
    const first = kept.planner.nextPlan();
    await kept.worker("w1");
    const plan = (await first)!;
    await kept.planner.stop({ keepPlan: true });
    expect((await kept.retained()).plan).toEqual(plan);

    const { planner, worker, retained } = await setup();
    const next = planner.nextPlan();
    await worker("w1");
    expect(await next).not.toBeNull();
    await planner.stop();
    expect(await retained()).toEqual({ plan: undefined, others: ["worker"] });
    expect(planner.current()).toBeUndefined();
  });

  it("plans each device's memory less its baseline, and leaves out a device whose memory is below it", async () => {
    const { planner, worker, logLines } = await setup();
    const first = planner.nextPlan();
    await worker("w1", 300e6, 90e6);
    await worker("w2", 80e6, 95e6);
    const plan = (await first)!;
    expect(plan.devices.map((d) => [d.workerId, d.memoryBudgetBytes])).toEqual([["w1", 210e6]]);
    expect(logLines).toContain(
      "device w2 has 80 MB of memory, not more than its baseline of 95 MB (node, onnxruntime and MQTT before any weights): left out",
    );
  });

  it("ignores a malformed presence, and clears the plan when no worker can hold the model", async () => {
    // Least C gives every device a part, so a device that can hold none makes every plan impossible.
    const { topics, planner, worker, retained, connect, logLines } = await setup({ planning: { objective: "comm" } });
    const first = planner.nextPlan();
    await worker("w1");
    expect((await first)!.devices).toHaveLength(1);

    const rogue = await connect();
    await rogue.publish(topics.worker("w9"), '{"workerId":"w9"}');
    await new Promise((r) => setTimeout(r, 150));
    expect([...planner.roster.keys()]).toEqual(["w1"]);
    expect(logLines, logLines.join("\n")).toContainEqual(
      expect.stringMatching(new RegExp(`^ignored a message: ${topics.worker("w9")}: field memoryBudgetBytes`)),
    );

    const cleared = planner.nextPlan();
    await worker("tiny", 1000); // 1 kB: no shard of any plan fits
    expect(await cleared).toBeNull();
    expect(logLines).toContainEqual(
      expect.stringMatching(
        /^cannot plan for tiny, w1: yolov2-mini needs ≥ \d+\.\d MB of weights per device on 2 devices; budgets are tiny 1 kB, w1 64 MB$/,
      ),
    );
    expect((await retained()).plan).toBeUndefined();
  });

  it("leaves a device that can hold nothing out of the fastest plan, and says what it predicts", async () => {
    const { planner, worker } = await setup();
    const first = planner.nextPlan();
    await worker("w1");
    await first;
    const next = planner.nextPlan();
    await worker("tiny", 1000); // 1 kB: no shard of any plan fits
    const plan = (await next)!;
    expect(plan.devices.map((d) => d.workerId).sort()).toEqual(["tiny", "w1"]);
    const tiny = plan.cost.perDevice.find((d) => d.workerId === "tiny")!;
    expect(tiny.shardBytes).toBe(0);
    expect(plan.prediction?.objective).toBe("latency");
    expect(plan.prediction!.seconds).toBeGreaterThan(0);
  });

  it("waits for minDevices devices before the first plan, then re-plans on every change", async () => {
    const { planner, worker, logLines } = await setup({ minDevices: 3 });
    await worker("w1");
    await worker("w2");
    await new Promise((r) => setTimeout(r, 200));
    expect(planner.current()).toBeUndefined();
    expect(logLines).toContain("waiting for 3 devices before the first plan (2 present)");

    const w3 = await worker("w3");
    let plan = await planner.nextPlan();
    while (plan === null) plan = await planner.nextPlan(); // a re-plan for w1, w2 may still have been running
    expect(plan.devices.map((d) => d.workerId)).toEqual(["w1", "w2", "w3"]);

    const after = planner.nextPlan();
    w3.client.stream.destroy(); // below minDevices now, but the first plan is out: plan for who is left
    expect((await after)!.devices.map((d) => d.workerId)).toEqual(["w1", "w2"]);
  });
});

describe("planner actor, keeping the deployment recoverable", () => {
  it("publishes its plan again when the plan topic is cleared, or holds bytes that are not a plan, or another plan", async () => {
    const logs = logBook();
    const { topics, planner, worker, retained, connect } = await setup({ log: logs.push });
    const first = planner.nextPlan();
    await worker("w1");
    const plan = (await first)!;
    const rogue = await connect();
    const cases: [string, string][] = [
      ["", "an empty message (the plan cleared)"],
      ["plan: yes", "9 bytes that are not a plan"],
      [JSON.stringify({ ...plan, id: "00000000000000b2" }), "another plan (00000000000000b2)"],
    ];
    for (const [payload, held] of cases) {
      const from = logs.mark();
      await rogue.client.publishAsync(topics.plan(), Buffer.from(payload), { qos: 1, retain: true });
      await logs.waitFor(literal(`the plan topic held ${held}, not plan ${plan.id}: published it again`), from);
      expect((await retained()).plan).toEqual(plan);
    }
    expect(planner.current()).toEqual(plan);
  });

  it("publishes its plan again after a reconnection when the broker no longer has it", async () => {
    const logs = logBook();
    const { topics, planner, plannerBus, worker, retained, connect } = await setup(
      { log: logs.push },
      { reconnectPeriodMs: 300 },
    );
    const first = planner.nextPlan();
    await worker("w1");
    const plan = (await first)!;
    const rogue = await connect();
    const from = logs.mark();
    const down = new Promise<void>((resolve) => plannerBus.client.once("close", () => resolve()));
    plannerBus.client.stream.destroy();
    await down;
    // While the planner is away the broker loses the plan, as one restarted without persistence does.
    await rogue.client.publishAsync(topics.plan(), Buffer.alloc(0), { qos: 1, retain: true });
    await logs.waitFor(
      literal(
        `the plan topic held nothing known (the connection to the broker was lost), not plan ${plan.id}: published it again`,
      ),
      from,
    );
    expect((await retained()).plan).toEqual(plan);
  });

  it("plans without a device that does not become ready within the bound, until it restarts", async () => {
    const logs = logBook();
    // Least C gives every device a part, so the ghost is in the first plan whatever it claims.
    const { planner, readyWorker, ghost } = await setup({
      log: logs.push,
      readyTimeoutMs: 500,
      planning: { objective: "comm" },
    });
    await readyWorker("w1");
    await ghost("ghost", "2026-12-01T10:00:00.000Z");
    const haunted = await planFor(planner, ["ghost", "w1"]);
    const without = await planFor(planner, ["w1"]);
    await logs.waitFor(
      literal(
        `device ghost was not ready for plan ${haunted.id} within 500 ms and asked for no shard meanwhile: planning without it until it restarts or leaves`,
      ),
      0,
    );
    expect([...planner.roster.keys()].sort()).toEqual(["ghost", "w1"]); // still present, left out

    await ghost("ghost", "2026-12-01T10:05:00.000Z"); // it restarted: another startedAt
    expect((await planFor(planner, ["ghost", "w1"])).id).toBe(haunted.id);
    expect(without.id).not.toBe(haunted.id);
  });

  it("keeps waiting for a device that is still asking for its shards, however long past the bound", async () => {
    const logs = logBook();
    const { planner, readyWorker, worker, ask } = await setup({
      log: logs.push,
      readyTimeoutMs: 400,
      planning: { objective: "comm" },
    });
    await readyWorker("w1");
    await worker("slow");
    const plan = await planFor(planner, ["slow", "w1"]);
    const [sha] = [...shardsOf(plan)].find(([, users]) => users.includes("slow"))!;
    // A device on a slow link asks, is sent its shard, and asks for the next, for three bounds.
    const until = performance.now() + 1_200;
    while (performance.now() < until) {
      expect(shardId(await ask("slow", sha))).toBe(sha);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(planner.current()?.id).toBe(plan.id);
    expect(logs.lines.filter((l) => l.startsWith("device slow"))).toEqual([]);
  });
});

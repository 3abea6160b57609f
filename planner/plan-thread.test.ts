/**
 * Plans made in a thread of their own (plan-thread.ts): the embedded broker in this
 * process answers while a slow search runs, a search past its bound gives the all-LOP
 * fallback plan with a warning that says so, a search in time gives makePlan's own plan,
 * a plan that cannot be made is the same PlanError as makePlan's, and a stopped search
 * ends at once. And the planner actor publishes the fallback, says so, and does not
 * search again for the same devices.
 */
import { describe, expect, it } from "vitest";
import { connectBus } from "../broker/bus.js";
import { encodeJson, presenceSchema } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { PlanError } from "../core/errors.js";
import { parseCfgText } from "../dnn/cfg.js";
import { isWeighted } from "../dnn/layer-traits.js";
import { buildNetwork, loadNetwork, type Network } from "../dnn/network.js";
import type { WeightsSource } from "../dnn/weights.js";
import { inbox, startEmbedded, useTeardown } from "../test/brokers.js";
import { logBook } from "../test/faults.js";
import { cfgPath } from "../test/fixtures.js";
import { startPlanner } from "./actor.js";
import { makePlan } from "./build.js";
import { planWithin } from "./plan-thread.js";
import type { PlanDevice } from "./schema.js";

const teardown = useTeardown();

/** A plain chain of 30 convolutions: least C over it is a branch and bound that does not finish in minutes. */
const chain30 = buildNetwork(
  parseCfgText(
    [
      "[net]\nwidth=32\nheight=32\nchannels=3\n",
      ...Array.from({ length: 30 }, () => "[convolutional]\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n"),
    ].join("\n"),
    "chain30.cfg",
  ),
);
const threeDevices: PlanDevice[] = [
  { workerId: "source", role: "source", gmacPerSec: 40 },
  { workerId: "w1", gmacPerSec: 40 },
  { workerId: "w2", gmacPerSec: 40 },
];

describe("planning in a thread of its own", () => {
  it("leaves the embedded broker serving while a slow search runs, then gives the all-LOP fallback with its warning", async () => {
    const broker = teardown.broker(await startEmbedded());
    const client = await connectBus(broker.url, { clientId: "pinger" });
    teardown.client(client.client);
    const pongs = inbox<string>();
    await client.subscribe("ping/#", { onMessage: (t) => pongs.push(t), onError: (err) => pongs.push(err.message) });

    let searching = true;
    const planning = planWithin(chain30, { devices: threeDevices, objective: "comm" }, { timeLimitMs: 3_000 });
    void planning.finally(() => (searching = false)).catch(() => undefined);
    // Round trips through the broker (publish, and receive it back) while the search runs, half a second apart.
    const answeredWhileSearching: boolean[] = [];
    for (const n of [1, 2, 3]) {
      if (n > 1) await new Promise((r) => setTimeout(r, 500));
      await client.publish(`ping/${n}`, "ping");
      expect(await pongs.next(2_000, `ping ${n} back`)).toBe(`ping/${n}`);
      answeredWhileSearching.push(searching);
    }
    expect(answeredWhileSearching).toEqual([true, true, true]);

    const { plan, fellBack } = await planning;
    expect(fellBack).toBe(
      "the plan search (objective comm, scheme auto) did not finish within 3 s: every partitioned layer runs LOP instead",
    );
    expect(plan.warnings.at(-1)).toBe(fellBack);
    expect(plan.inputs).toMatchObject({ strategy: "lop", objective: "comm" });
    const schemes = new Set(plan.steps.map((s) => s.scheme));
    expect([...schemes].filter((s) => s !== "carry" && s !== "source")).toEqual(["lop"]);
    expect(plan.devices.map((d) => d.workerId)).toEqual(["source", "w1", "w2"]);
  });

  it("gives makePlan's own plan when the search finishes in time", async () => {
    const network = loadNetwork(cfgPath("yolov2-mini"));
    const options = {
      devices: threeDevices,
      ftpEnd: 0,
      pinned: new Map([[2, "lip" as const]]),
      objective: "comm" as const,
    };
    const { plan, fellBack } = await planWithin(network, options, { timeLimitMs: 30_000 });
    expect(fellBack).toBeUndefined();
    expect(plan).toEqual(makePlan(network, options));
    expect(plan.steps.find((s) => s.layer === 2)?.scheme).toBe("lip"); // the pins crossed over with the rest
  });

  it("throws the PlanError makePlan throws when no plan fits the devices", async () => {
    const network = loadNetwork(cfgPath("yolov2-mini"));
    const options = {
      devices: threeDevices.map((d) => ({ ...d, memoryBudgetBytes: 1000 })),
      objective: "comm" as const,
    };
    const expected = (() => {
      try {
        makePlan(network, options);
      } catch (err) {
        return err;
      }
    })();
    expect(expected).toBeInstanceOf(PlanError);
    const thrown = await planWithin(network, options, { timeLimitMs: 30_000 }).catch((err: unknown) => err);
    expect(thrown).toBeInstanceOf(PlanError);
    expect((thrown as PlanError).message).toBe((expected as PlanError).message);
  });

  it("ends a search at once when it is stopped, instead of waiting for its bound", async () => {
    const stop = new AbortController();
    const planning = planWithin(
      chain30,
      { devices: threeDevices, objective: "comm" },
      { timeLimitMs: 40_000, signal: stop.signal },
    );
    setTimeout(() => stop.abort(), 200);
    const ended = await planning.then(
      () => "a plan",
      (err: unknown) => (err as Error).name,
    );
    expect(ended).toBe("AbortError");
  });
});

/** Weights of zeros for a network of convolutions without batch norm: what cutting shards needs. */
const zeroWeights = (network: Network): WeightsSource => ({
  read: (i) => {
    const layer = network.layers[i]!;
    if (!isWeighted(layer)) return undefined;
    return { biases: new Float32Array(layer.output.c), weights: new Float32Array(layer.stats.weights) };
  },
});

describe("the planner actor, planning in a thread", () => {
  it("publishes the fallback plan when the search runs past its bound, says so, and searches no more for the same devices", async () => {
    const broker = teardown.broker(await startEmbedded());
    const topics = topicsFor("slow-plan");
    const logs = logBook();
    const connect = async (clientId: string) => {
      const bus = await connectBus(broker.url, { clientId });
      teardown.client(bus.client);
      return bus;
    };
    const planner = await startPlanner({
      bus: await connect("planner"),
      deployment: topics.deployment,
      network: chain30,
      weights: zeroWeights(chain30),
      planning: { objective: "comm" },
      settleMs: 50,
      minDevices: 2,
      planTimeoutMs: 3_000,
      log: logs.push,
    });
    teardown.add(() => planner.stop());
    const device = await connect("devices");
    const announce = (workerId: string, readyPlanId?: string) =>
      device.publish(
        topics.worker(workerId),
        encodeJson(presenceSchema, {
          workerId,
          role: "worker",
          memoryBudgetBytes: 64e6,
          gmacPerSec: 40,
          startedAt: "2026-12-01T10:00:00.000Z",
          version: "0.1.0",
          ...(readyPlanId ? { readyPlanId } : {}),
        }),
        { retain: true },
      );

    const first = planner.nextPlan();
    await announce("w1");
    await announce("w2");
    let plan = await first;
    while (plan === null) plan = await planner.nextPlan(); // a re-plan before w2 was heard clears
    const fellBack =
      "the plan search (objective comm, scheme auto) did not finish within 3 s: every partitioned layer runs LOP instead";
    expect(plan.warnings.at(-1)).toBe(fellBack);
    expect(logs.lines).toContain(`planning for w1, w2: ${fellBack}`);

    // w1 says it is ready for the plan, as a device that has its shards does: the same devices, so the same plan, unsearched.
    const again = planner.nextPlan();
    await announce("w1", plan.id);
    expect((await again)?.id).toBe(plan.id);
    expect(logs.lines.filter((l) => l.includes("did not finish"))).toHaveLength(1);
  });
});

/**
 * A deployment recovers from what used to stop it for good:
 *
 * - an empty message retained on `plan` (every device dropped the plan, and nothing
 *   published it again): the planner, watching its own topic, publishes it again;
 * - a retained presence that no device stands behind (`workers/ghost`, made part of every
 *   plan, which then waited for it): the planner plans without a device that does not
 *   become ready within its bound;
 * - Mosquitto killed while idle and started again without persistence (it forgot every
 *   presence and the plan and sent no will, so a device that came back afterwards never
 *   got the plan): on reconnecting the devices announce themselves again and the planner
 *   publishes its plan again. Measured here: the next request served about 2 s after the
 *   broker listens again (mqtt.js retries every second; the planner settles 250 ms).
 *
 * The deployment is test/recovery-deployment.ts'; a broker outage during a request and a
 * persistent broker bringing back an old plan are recovery-outage.test.ts'.
 */
import { describe, expect, it, beforeAll } from "vitest";
import { connectBus } from "../broker/bus.js";
import { encodeJson, presenceSchema } from "../broker/messages.js";
import { startEmbedded, useTeardown } from "../test/brokers.js";
import { logBook } from "../test/faults.js";
import {
  DEVICES,
  deviceIds,
  READY_TIMEOUT_MS,
  restartableMosquitto,
  retainedOn,
  startDeployment,
  topics,
  until,
} from "../test/recovery-deployment.js";

describe("a deployment recovering on the embedded broker", () => {
  const teardown = useTeardown("all");
  const logs = logBook();
  let url: string;
  let d: Awaited<ReturnType<typeof startDeployment>>;

  beforeAll(async () => {
    url = teardown.broker(await startEmbedded()).url;
    d = await startDeployment(url, teardown, logs);
    await d.expectServed("first");
  });

  it("an empty message retained on the plan topic: the planner publishes its plan again and the next request is served", async () => {
    const plan = d.planner.current()!;
    const from = logs.mark();
    await d.client.client.publishAsync(topics.plan(), Buffer.alloc(0), { qos: 1, retain: true });
    // Every device lets the plan go; the planner publishes it again; they prepare it again.
    await until(() => d.source.readyPlanId() === undefined, "the source letting the plan go", 5_000);
    await logs.waitFor(/^planner: the plan topic held an empty message \(the plan cleared\), not plan /, from);
    await d.expectServed("after-empty-plan");
    expect(d.planner.current()?.id).toBe(plan.id);
    expect((await retainedOn(url)).plan).toBe(JSON.stringify(plan));
  });

  it("a retained presence no device stands behind: the planner plans without it after its bound and requests are served", async () => {
    const ghost = await connectBus(url, { clientId: "ghost" });
    const presence = {
      workerId: "ghost",
      memoryBudgetBytes: 8e9,
      gmacPerSec: 500,
      startedAt: new Date().toISOString(),
      version: "0.1.0",
    };
    await ghost.publish(topics.worker("ghost"), encodeJson(presenceSchema, presence), { retain: true });
    await ghost.close(); // no will: the presence stays retained
    teardown.add(() => d.client.publish(topics.worker("ghost"), Buffer.alloc(0), { retain: true }));
    await until(() => deviceIds(d.planner.current()).includes("ghost"), "a plan with the ghost");
    const haunted = d.planner.current()!;
    await d.expectServed("despite-ghost");
    await logs.waitFor(
      new RegExp(`^planner: device ghost was not ready for plan ${haunted.id} within ${READY_TIMEOUT_MS} ms`),
      0,
    );
    await d.expectServed("after-ghost");
  });
});

describe("a deployment on Mosquitto restarted without persistence", () => {
  const teardown = useTeardown("each");
  const logs = logBook();

  // Killed, as a crash or a power cut stops it: no will is sent. (Stopped gracefully,
  // Mosquitto sends its clients' wills first, and the devices' answer to the cleared
  // plan was to announce themselves, which recovered even before they did so on reconnecting.)
  it("killed while idle: the devices announce themselves again, the plan comes back, and the next requests are served", async () => {
    const broker = await restartableMosquitto(teardown);
    const d = await startDeployment(broker.url, teardown, logs);
    await d.expectServed("before-restart");
    const plan = d.planner.current()!;

    await broker.restart(1_500);
    const back = performance.now();
    // What the broker forgot is back within 10 s of it listening again: every presence, ready for the plan, and the plan.
    let retained = await retainedOn(broker.url);
    while (
      (retained.plan !== JSON.stringify(plan) ||
        DEVICES.some((id) => retained.presences.get(id)?.readyPlanId !== plan.id)) &&
      performance.now() - back < 10_000
    )
      retained = await retainedOn(broker.url);
    expect(retained.plan).toBe(JSON.stringify(plan));
    expect([...retained.presences.values()].map((p) => [p.workerId, p.readyPlanId]).sort()).toEqual(
      DEVICES.map((id) => [id, plan.id]),
    );
    await d.expectServed("after-restart", DEVICES, 10_000);

    // A roster change afterwards: a device restarts (it leaves, the plan goes on without
    // it, it comes back and is given the plan retained again).
    await d.restartWorker("worker-2");
    await d.expectServed("after-worker-restart");
  });
});

/**
 * A broker outage costs a deployment no answer and no old plan:
 *
 * - Mosquitto killed while a request runs, for longer than the job's deadline: the source
 *   fails the job while the broker is away, holds that answer until its connection has
 *   been back ANSWER_SETTLE_MS (actors/runtime/report.ts), and the client, whose
 *   subscriptions a broker without persistence forgot, has subscribed again by then. It
 *   used to be dropped (the source reported nothing while disconnected) or lost (mqtt.js
 *   sends what waited offline before the client is back). Bounds: that answer within 5 s
 *   of the broker listening again, the next request served within 10 s.
 * - Mosquitto with persistence, SIGKILLed and started again, brings back the plan it last
 *   saved, older than the planner's: the planner publishes its current plan again, and
 *   requests are served on it.
 */
import { describe, expect, it } from "vitest";
import { decodeJson, errorMessageSchema } from "../broker/messages.js";
import { onnxRuntime } from "../dnn/onnx/runtime.js";
import { useTeardown } from "../test/brokers.js";
import { holdableRuntime, logBook } from "../test/faults.js";
import {
  DEVICES,
  JOB_TIMEOUT_MS,
  NEXT_REQUEST_BOUND_MS,
  OTHER_PLANNING,
  OUTAGE_ANSWER_BOUND_MS,
  restartableMosquitto,
  retainedOn,
  sleep,
  startDeployment,
  topics,
} from "../test/recovery-deployment.js";

describe("a deployment on Mosquitto killed while a request runs", () => {
  const teardown = useTeardown("each");
  const logs = logBook();

  // The outage outlasts the job's deadline: the source fails the job while the broker is
  // away, and its answer must still reach the client, whose connection the restart cut too
  // and whose subscriptions the new broker does not know until it has subscribed again.
  it("killed while a request runs: that request ends with one error soon after the broker is back, the next is served", async () => {
    const broker = await restartableMosquitto(teardown);
    const slow = holdableRuntime(onnxRuntime());
    const d = await startDeployment(broker.url, teardown, logs, {
      runtimeOf: (id) => (id === "worker-1" ? slow.runtime : undefined),
      jobTimeoutMs: JOB_TIMEOUT_MS,
    });
    await d.expectServed("before-outage");

    const hold = slow.holdNext(10_000);
    await d.send("in-flight");
    await hold.held; // the job is running: worker-1 holds its task
    await broker.kill();
    await sleep(JOB_TIMEOUT_MS + 1_500); // the deadline passes while the broker is down
    hold.release();
    await broker.start();
    const back = performance.now();

    const answer = await d.reply("in-flight", OUTAGE_ANSWER_BOUND_MS);
    const answeredMs = performance.now() - back;
    expect(answer.kind, answer.payload.toString()).toBe("errors");
    const error = decodeJson(topics.errors("in-flight"), answer.payload, errorMessageSchema);
    expect(error.code).toBe("timeout");
    expect(answeredMs).toBeLessThanOrEqual(OUTAGE_ANSWER_BOUND_MS);
    // One answer, not two.
    await expect(d.reply("in-flight", 1_500)).rejects.toThrow(/no reply to in-flight within/);
    await d.expectServed("after-outage", DEVICES, NEXT_REQUEST_BOUND_MS);
  });
});

describe("a deployment on Mosquitto with persistence, killed and started again", () => {
  const teardown = useTeardown("each");
  const logs = logBook();

  // Mosquitto brings back what it saved last: here a plan the planner has replaced since,
  // which every device would follow if nothing published the current one again.
  it("brings back an older plan: the planner publishes its current one again and requests are served on it", async () => {
    const broker = await restartableMosquitto(teardown, { persistent: true });
    const d = await startDeployment(broker.url, teardown, logs);
    await d.expectServed("on-the-first-plan");
    const old = d.planner.current()!;
    await broker.save(); // the first plan, retained, and every presence
    const current = await d.replan(OTHER_PLANNING);
    expect(current.id).not.toBe(old.id);
    await d.expectServed("on-the-second-plan");

    const from = logs.mark();
    await broker.restart(500);
    const back = performance.now();
    // It did bring the first plan back, and the planner saw it there.
    await logs.waitFor(
      new RegExp(`^planner: the plan topic held another plan \\(${old.id.slice(0, 16)}\\), not plan ${current.id}`),
      from,
      10_000,
    );
    let retained = await retainedOn(broker.url);
    while (retained.plan !== JSON.stringify(current) && performance.now() - back < 10_000)
      retained = await retainedOn(broker.url);
    expect(JSON.parse(retained.plan ?? "{}").id).toBe(current.id);
    await d.expectServed("after-restart", DEVICES, NEXT_REQUEST_BOUND_MS);
    expect(d.planner.current()?.id).toBe(current.id);
  });
});

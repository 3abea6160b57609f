/**
 * Whose error report is it: the source hears every report on errors/+, its own among
 * them, and decides by the report's `from`, never by the text of `where`. A worker
 * whose `where` happens to read like the source's still fails the job at once with
 * its words; a report with no `from` (an older worker) does too; one signed as this
 * source is its own and is passed over (the job then ends at its deadline).
 *
 * The worker here is the test's own connection: it announces itself, says it is ready
 * for each plan, and answers the first input of a job with the report the case gives.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type Bus, connectBus } from "../../broker/bus.js";
import { encodeFrame } from "../../broker/frame.js";
import { encodeJson, type ErrorMessage, errorMessageSchema } from "../../broker/messages.js";
import { topicsFor } from "../../broker/topics.js";
import { CACHE_DIR } from "../../core/paths.js";
import { shapeSize } from "../../dnn/layers.js";
import { loadNetwork } from "../../dnn/network.js";
import { onnxRuntime } from "../../dnn/onnx/runtime.js";
import { cachedSyntheticWeights } from "../../dnn/synthetic.js";
import { openWeights } from "../../dnn/weights.js";
import { parsePlan } from "../../planner/schema.js";
import { startPlanner } from "../../planner/actor.js";
import { startEmbedded, useTeardown } from "../../test/brokers.js";
import { logBook } from "../../test/faults.js";
import { cfgPath } from "../../test/fixtures.js";
import { announce, presenceWill, VERSION } from "../runtime/device.js";
import { startSource } from "./source.js";

const DEPLOYMENT = "error-report";
const SOURCE = "s1";
const WORKER = "w1";
const JOB_TIMEOUT_MS = 3_000;
const topics = topicsFor(DEPLOYMENT);

/** What the test's worker answers a job's first input with. */
type Answer = (jobId: string) => ErrorMessage;

describe("the source tells its own error reports from its workers' by who sent them", () => {
  const teardown = useTeardown("all");
  const logs = logBook();
  const network = loadNetwork(cfgPath("yolov2-mini"));
  const answers = new Map<string, Answer>();
  let client: Bus;

  /** The test's worker: present, ready for every plan, and answering inputs with `answers`. */
  async function startFakeWorker(url: string): Promise<void> {
    const bus = await connectBus(url, { clientId: WORKER, will: presenceWill(topics, WORKER), reconnectPeriodMs: 0 });
    teardown.client(bus.client);
    const presence = (readyPlanId?: string) =>
      announce(bus, topics, {
        workerId: WORKER,
        memoryBudgetBytes: 1e9,
        baselineBytes: 0,
        gmacPerSec: 50,
        startedAt: new Date().toISOString(),
        version: VERSION,
        role: "worker",
        ...(readyPlanId ? { readyPlanId } : {}),
      });
    const answered = new Set<string>();
    // LOP's whole input comes once on the layer's layerIn; a slice would come on partIn.
    await bus.subscribe([topics.filters.partIn(), topics.filters.layerIn()], {
      onMessage: async (topic) => {
        const at = topics.parse(topic);
        if ((at?.kind !== "partIn" && at?.kind !== "layerIn") || answered.has(at.jobId)) return;
        answered.add(at.jobId);
        const answer = answers.get(at.jobId);
        if (answer) await bus.publish(topics.errors(at.jobId), encodeJson(errorMessageSchema, answer(at.jobId)));
      },
      onError: (err) => logs.push(`test worker: ${err.message}`),
    });
    await bus.subscribe(topics.plan(), {
      onMessage: (topic, payload) =>
        payload.byteLength ? presence(parsePlan(JSON.parse(payload.toString()), topic).id) : presence(),
      onError: (err) => logs.push(`test worker: ${err.message}`),
    });
    await presence();
  }

  beforeAll(async () => {
    const broker = teardown.broker(await startEmbedded());
    const weights = openWeights(cachedSyntheticWeights(network, 1, CACHE_DIR).path, network);
    teardown.add(() => weights.close());
    const plannerBus = await connectBus(broker.url, { clientId: "planner" });
    teardown.client(plannerBus.client);
    const planner = await startPlanner({
      bus: plannerBus,
      deployment: DEPLOYMENT,
      network,
      weights,
      planning: { strategy: "lop", ftpEnd: 0, objective: "comm" },
      minDevices: 2,
      log: () => undefined,
    });
    teardown.add(() => planner.stop());
    await startFakeWorker(broker.url);
    const sourceBus = await connectBus(broker.url, {
      clientId: SOURCE,
      will: presenceWill(topics, SOURCE),
      reconnectPeriodMs: 0,
    });
    teardown.client(sourceBus.client);
    const source = await startSource({
      bus: sourceBus,
      deployment: DEPLOYMENT,
      sourceId: SOURCE,
      runtime: onnxRuntime(),
      gmacPerSec: 50,
      memoryBudgetBytes: 1e9,
      baselineBytes: 0,
      jobTimeoutMs: JOB_TIMEOUT_MS,
      log: logs.push,
    });
    teardown.add(() => source.stop());
    await source.ready(60_000);
    client = await connectBus(broker.url, { clientId: "client" });
    teardown.client(client.client);
  }, 120_000);

  /** Sends request `id` (a tensor of the network's input) and returns the line the source logs when it fails. */
  async function failureOf(id: string, answer: Answer): Promise<string> {
    answers.set(id, answer);
    const from = logs.mark();
    const { c, h, w } = network.input;
    await client.publish(
      topics.infer(id),
      encodeFrame(
        { jobId: id, layer: 0, part: 0, shape: [c, h, w] },
        new Float32Array(shapeSize(network.input)).fill(0.5),
      ),
    );
    return logs.waitFor(new RegExp(`^source ${SOURCE}: ${id}: `), from, JOB_TIMEOUT_MS + 10_000);
  }

  /** A report in the words the source uses for its own ("source s1: request <id>"). */
  const readsLikeTheSource = (jobId: string) => ({
    requestId: jobId,
    code: "shape",
    message: `${WORKER} could not run its part`,
    where: `source ${SOURCE}: request ${jobId}`,
  });

  it("fails the job at once on a worker's report whose where reads like the source's", async () => {
    const line = await failureOf("r1", (jobId) => ({
      ...readsLikeTheSource(jobId),
      from: { role: "worker", deviceId: WORKER },
    }));
    expect(line).toBe(`source ${SOURCE}: r1: source ${SOURCE}: request r1: ${WORKER} could not run its part`);
  }, 30_000);

  it("takes a report with no from (an older worker) for a worker's", async () => {
    const line = await failureOf("r2", readsLikeTheSource);
    expect(line).toBe(`source ${SOURCE}: r2: source ${SOURCE}: request r2: ${WORKER} could not run its part`);
  }, 30_000);

  it("passes over a report signed as this source: the job ends at its deadline instead", async () => {
    const line = await failureOf("r3", (jobId) => ({
      ...readsLikeTheSource(jobId),
      where: "anything",
      from: { role: "source", deviceId: SOURCE },
    }));
    expect(line).toMatch(
      new RegExp(`^source ${SOURCE}: r3: job r3 did not finish within ${JOB_TIMEOUT_MS} ms; waiting for ${WORKER} `),
    );
  }, 30_000);
});

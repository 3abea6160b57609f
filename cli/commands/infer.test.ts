/**
 * `edgefuse infer` never waits for nothing: with no source, or one that is offline or
 * goes offline, it fails at once with one line; with a source that never answers it
 * fails at its deadline.
 */
import { describe, expect, it } from "vitest";
import { type Bus, connectBus } from "../../broker/bus.js";
import { STATUS } from "../../broker/messages.js";
import { topicPrefix, topicsFor } from "../../broker/topics.js";
import { startEmbedded, useTeardown } from "../../test/brokers.js";
import { edgefuse } from "../../test/cli.js";
import { imagePath } from "../../test/fixtures.js";
import { STATUS_GRACE_MS } from "../source-status.js";

const topics = topicsFor("default");
/** Every request of the deployment, whatever level it names. */
const REQUESTS = `${topicPrefix("default")}infer/#`;
const HINT = "start `edgefuse up`, or `edgefuse source` beside the workers";

describe("edgefuse infer", () => {
  const teardown = useTeardown();

  /** A broker, and a client standing in for the source. */
  async function setup(): Promise<{ url: string; source: Bus }> {
    const { broker } = teardown.broker(await startEmbedded());
    const source = await connectBus(broker.url, { clientId: "fake-source", reconnectPeriodMs: 0 });
    teardown.client(source.client);
    return { url: broker.url, source };
  }
  // Well inside the 30 s deadline: an infer that waited it out would be killed, with no exit code.
  const infer = (url: string, ...extra: string[]) =>
    edgefuse(["infer", imagePath("dog.jpg"), "--broker", url, ...extra], { timeoutMs: 20_000 });

  it("with no source: says so at once, exit 1", async () => {
    const { url } = await setup();
    const r = await infer(url);
    expect(r.stderr).toBe(
      `edgefuse infer: no source on deployment 'default': nothing on ${topics.status()} within ${STATUS_GRACE_MS} ms; ${HINT}\n`,
    );
    expect(r.code).toBe(1);
  });

  it("with the source offline: says so at once, and sends nothing", async () => {
    const { url, source } = await setup();
    await source.publish(topics.status(), STATUS.offline, { retain: true });
    const requests: string[] = [];
    await source.subscribe(REQUESTS, {
      onMessage: (topic) => void requests.push(topic),
      onError: (err) => void requests.push(`error: ${err.message}`),
    });
    const r = await infer(url);
    expect(r.stderr).toBe(
      `edgefuse infer: the source of deployment 'default' is offline (${topics.status()}); ${HINT}\n`,
    );
    expect(r.code).toBe(1);
    expect(requests).toEqual([]);
  });

  it("fails as soon as the source goes offline during the request", async () => {
    const { url, source } = await setup();
    await source.publish(topics.status(), STATUS.online, { retain: true });
    await source.subscribe(REQUESTS, {
      onMessage: () => void source.publish(topics.status(), STATUS.offline, { retain: true }),
      onError: () => undefined, // a request that never arrives whole leaves the source online: the expected line is not printed
    });
    const r = await infer(url, "--id", "r1");
    expect(r.stderr).toBe(`edgefuse infer: the source of deployment 'default' went offline (${topics.status()})\n`);
    expect(r.code).toBe(1);
  });

  it("with a source that never answers: fails at --timeout-ms", async () => {
    const { url, source } = await setup();
    await source.publish(topics.status(), STATUS.online, { retain: true });
    const r = await infer(url, "--id", "r2", "--timeout-ms", "2000");
    expect(r.stderr).toBe(`edgefuse infer: no answer on ${topics.results("r2")} within 2000 ms\n`);
    expect(r.code).toBe(1);
  });

  it("waits the request deadline the README states by default: 30 s", async () => {
    const r = await edgefuse(["infer", "--help"]);
    expect(r.stdout).toMatch(/^ {2}--timeout-ms MS +.*\(default: 30000\)$/m);
  });
});

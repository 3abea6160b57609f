/**
 * The source's `load` topic (actors/source/load.ts) on the embedded broker and on a real
 * Mosquitto, with the source as a real process (test/source-process.ts): while a burst
 * of requests waits it shows them running and queued, a few messages a second at most,
 * not one per request; once they have ended it shows 0 and 0; and when the process is
 * SIGKILLed its last will clears it, so a later subscriber finds nothing retained.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBroker } from "../broker/client.js";
import { decodeLoad, type Load } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { startEmbedded, startMosquitto, type StartTestBroker, Teardown } from "../test/brokers.js";
import { imagePath } from "../test/fixtures.js";
import { type Message, recorder, spawnSource, startMiniPlanner } from "../test/source-process.js";
import { LOAD_INTERVAL_MS } from "./source/load.js";

const DEPLOYMENT = "load";
const topics = topicsFor(DEPLOYMENT);
const BURST = 8;

const brokers: [string, StartTestBroker][] = [
  ["the embedded broker", () => startEmbedded()],
  ["Mosquitto", () => startMosquitto()],
];

describe.each(brokers)("the source's load on %s", (_name, start) => {
  const teardown = new Teardown();
  let url: string;
  let source: ReturnType<typeof spawnSource>;
  let watch: Awaited<ReturnType<typeof recorder>>;
  const loadOf = (m: Message): Load | null => decodeLoad(m.topic, m.payload);

  beforeAll(async () => {
    url = teardown.broker(await start()).url;
    watch = await recorder(
      url,
      [topics.load(), topics.status(), topics.filters.results(), topics.filters.errors()],
      teardown,
    );
    await startMiniPlanner(url, DEPLOYMENT, teardown);
    // One request at a time, so a burst waits in the queue.
    source = spawnSource(url, DEPLOYMENT, ["--in-flight", "1", "--queue", "16"], teardown);
    const online = await watch.next(topics.status(), 110_000).catch((err: Error) => {
      throw new Error(`${err.message}; the source said: ${source.stderr()}`);
    });
    expect(online.payload.toString()).toBe("online");
  }, 120_000);
  afterAll(() => teardown.run());

  it("starts idle, with its limits and policy", async () => {
    const first = loadOf(await watch.next(topics.load()));
    expect(first).toMatchObject({ inFlight: 0, queued: 0, inFlightLimit: 1, queueLimit: 16, overflow: "reject" });
  });

  it("shows a burst running and queued, a few times a second, and 0 and 0 once it has ended", async () => {
    const client = teardown.client(await connectBroker(url, { clientId: "burst" }));
    const image = readFileSync(imagePath("dog.jpg"));
    const ids = Array.from({ length: BURST }, (_, i) => `b${i}`);
    const started = performance.now();
    await Promise.all(ids.map((id) => client.publishAsync(topics.infer(id), image, { qos: 1 })));
    for (const id of ids) await watch.next(topics.results(id), 60_000);
    const elapsed = performance.now() - started;
    // The last change (the last request ending) goes out within an interval.
    const deadline = Date.now() + 10 * LOAD_INTERVAL_MS;
    const latest = () => watch.pending(topics.load()).map(loadOf).at(-1);
    while (Date.now() < deadline && !(latest()?.inFlight === 0 && latest()?.queued === 0))
      await new Promise((r) => setTimeout(r, 50));
    const loads = [...watch.pending(topics.load())].map(loadOf);
    expect(
      loads.some((l) => l !== null && l.queued > 0 && l.inFlight === 1),
      JSON.stringify(loads),
    ).toBe(true);
    expect(loads.at(-1)).toMatchObject({ inFlight: 0, queued: 0, refused: 0, dropped: 0 });
    // Throttled: about one message per interval at most, not one per request event (3 per request here).
    expect(loads.length).toBeLessThanOrEqual(Math.ceil((elapsed + 10 * LOAD_INTERVAL_MS) / LOAD_INTERVAL_MS) + 2);
    expect(loads.length).toBeLessThan(3 * BURST);
  }, 90_000);

  it("is cleared by the source's last will when the process is killed", async () => {
    source.child.kill("SIGKILL");
    let cleared: Message;
    do cleared = await watch.next(topics.load());
    while (cleared.payload.byteLength > 0);
    expect(loadOf(cleared)).toBeNull();
    // A subscriber that comes later finds no load retained, and the status offline.
    const late = await recorder(url, [topics.load(), topics.status()], teardown);
    expect((await late.next(topics.status())).payload.toString()).toBe("offline");
    await new Promise((r) => setTimeout(r, 500));
    expect(late.pending(topics.load())).toEqual([]);
  });
});

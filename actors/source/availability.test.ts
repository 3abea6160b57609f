import { describe, expect, it } from "vitest";
import { connectBus } from "../../broker/bus.js";
import { STATUS } from "../../broker/messages.js";
import { topicsFor } from "../../broker/topics.js";
import { startEmbedded, useTeardown } from "../../test/brokers.js";
import { availability, SUBSCRIBED_AGAIN_MS, statusWill } from "./availability.js";

describe("the source's availability after its connections drop", () => {
  const teardown = useTeardown();

  it("says online again only once the serving connection has been back long enough to have subscribed again", async () => {
    const { url } = teardown.broker(await startEmbedded());
    const topics = topicsFor("avail");
    const status = await connectBus(url, { clientId: "status", reconnectPeriodMs: 50, will: statusWill(topics) });
    const serving = await connectBus(url, { clientId: "serving", reconnectPeriodMs: 400 });
    const spy = await connectBus(url, { clientId: "spy", reconnectPeriodMs: 0 });
    for (const b of [status, serving, spy]) teardown.client(b.client);
    const heard: { status: string; at: number }[] = [];
    await spy.subscribe(topics.status(), {
      onMessage: (_topic, payload) => {
        heard.push({ status: payload.toString(), at: performance.now() });
      },
      onError: (err) => {
        throw err;
      },
    });
    const lines: string[] = [];
    const a = availability(status, topics, (l) => lines.push(l), serving);
    await a.online();

    // The link goes: both connections drop; the status one is back first (50 ms), the serving one after 400 ms.
    const servingBack = new Promise<number>((resolve) =>
      serving.client.once("connect", () => resolve(performance.now())),
    );
    const statusBack = new Promise<number>((resolve) =>
      status.client.once("connect", () => resolve(performance.now())),
    );
    status.client.stream.destroy();
    serving.client.stream.destroy();
    const [statusAt, servingAt] = await Promise.all([statusBack, servingBack]);
    expect(statusAt).toBeLessThan(servingAt);
    const deadline = performance.now() + 5_000;
    while (heard.filter((h) => h.status === STATUS.online).length < 2 && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200)); // and nothing more comes

    // online, the will's offline, then online again: not before the serving connection has been up SUBSCRIBED_AGAIN_MS.
    expect(heard.map((h) => h.status)).toEqual([STATUS.online, STATUS.offline, STATUS.online]);
    expect(heard[2]!.at - servingAt).toBeGreaterThanOrEqual(SUBSCRIBED_AGAIN_MS - 5);
    await a.offline();
    expect(lines).toEqual([]);
  });
});

/** The embedded broker's counters on `stats`: published about every `everyMs`, read by a viewer and by no client. */
import { describe, expect, it } from "vitest";
import { inbox, startEmbedded, useTeardown } from "../test/brokers.js";
import { deploymentLogins } from "./auth.js";
import { connectBroker } from "./client.js";
import { decodeJson } from "./messages.js";
import { statsSchema } from "./stats.js";
import { topicsFor } from "./topics.js";

const t = topicsFor("lab");

describe("broker stats", () => {
  const teardown = useTeardown();

  it("publishes every client's bytes so far to a viewer, growing as a client sends, and to no client", async () => {
    const logins = deploymentLogins("lab", []);
    const { broker } = teardown.broker(
      await startEmbedded({ anonymous: "guest", localUsers: logins.users, stats: { deployment: "lab", everyMs: 100 } }),
    );
    const connect = (clientId: string, login: { username: string; password: string }) =>
      connectBroker(broker.url, { clientId, ...login, reconnectPeriodMs: 0 }).then((c) => teardown.client(c));
    const viewer = await connect("panel", logins.viewer);
    const client = await connect("cam", logins.client);
    const seenByViewer = inbox<Buffer>();
    const seenByClient = inbox<string>();
    viewer.on("message", (_topic, payload) => seenByViewer.push(payload));
    client.on("message", (topic) => seenByClient.push(topic));
    await viewer.subscribeAsync(t.stats(), { qos: 1 });
    await client.subscribeAsync(t.stats(), { qos: 1 });

    const first = decodeJson(t.stats(), await seenByViewer.next(), statsSchema);
    expect(first.everyMs).toBe(100);
    await client.publishAsync(t.infer("r1"), Buffer.alloc(50_000), { qos: 1 });
    let later = first;
    while ((later.clients.cam?.bytesIn ?? 0) < 50_000)
      later = decodeJson(t.stats(), await seenByViewer.next(), statsSchema);
    expect(Date.parse(later.timestamp)).toBeGreaterThan(Date.parse(first.timestamp));
    expect(later.clients.panel!.bytesOut).toBeGreaterThan(first.clients.panel!.bytesOut);
    // A client is handed none of them, however long it listens.
    await client.publishAsync(t.infer("r2"), "x", { qos: 1 });
    await new Promise((r) => setTimeout(r, 250));
    expect(seenByClient.items).toEqual([]);
  });
});

/**
 * Who may use the embedded broker and for what: users and their roles' ACL (a worker's
 * outputs only where the plan routes them, a client's own results, a viewer that only
 * reads), client ids tied to users, and anonymous guests where there is no auth file.
 */
import { describe, expect, it } from "vitest";
import { inbox, startEmbedded, useTeardown } from "../test/brokers.js";
import { deploymentLogins, hashPassword, type AuthFile } from "./auth.js";
import { connectBroker, publishChunked, subscribeChunked, type ConnectOptions, type MqttClient } from "./client.js";
import { BrokerError } from "./errors.js";
import { topicsFor } from "./topics.js";

const t = topicsFor("lab");

describe("embedded broker with users", () => {
  const teardown = useTeardown();
  let hashed: Promise<AuthFile> | undefined;
  const users = () => (hashed ??= hashUsers()); // scrypt is slow on purpose: hash once per file
  const roles = {
    planner: "planner",
    source: "source",
    w1: "worker",
    w2: "worker",
    client: "client",
    cam2: "client",
    panel: "viewer",
    admin: "admin",
  } as const;
  const hashUsers = async (): Promise<AuthFile> => ({
    users: await Promise.all(
      Object.entries(roles).map(async ([username, role]) => ({
        username,
        password: await hashPassword(`${username}-pw`),
        role,
      })),
    ),
  });
  const start = async () => teardown.broker(await startEmbedded({ auth: await users() }));
  /** The client id each user's role connects with (auth.ts clientIdDenial). */
  const clientIdOf = (username: string) =>
    username.startsWith("w")
      ? `worker-${username}`
      : username === "source"
        ? "source-source"
        : `${username === "planner" ? "planner-" : ""}${username}-${Math.random().toString(36).slice(2, 8)}`;
  const login = async (
    url: string,
    username: string,
    password = `${username}-pw`,
    extra: Partial<ConnectOptions> = {},
  ) =>
    teardown.client(
      await connectBroker(url, {
        clientId: clientIdOf(username),
        username,
        password,
        reconnectPeriodMs: 0,
        ...extra,
      }),
    );
  const watchAll = async (url: string) => {
    const got = inbox<string>();
    const admin = await login(url, "admin");
    await subscribeChunked(admin, "edgefuse/#", {
      onMessage: (topic, payload) => got.push(`${topic} ${payload}`),
      onError: (e) => {
        throw e;
      },
    });
    return got;
  };
  /** Publishes at QoS 1: true when the broker drops the publisher, false when it acknowledges. */
  const publishAndSeeDropped = (client: MqttClient, topic: string) =>
    new Promise<boolean>((resolve) => {
      client.once("close", () => resolve(true));
      client.publishAsync(topic, "x", { qos: 1 }).then(
        () => resolve(false),
        () => resolve(true),
      ); // no ack: dropped
    });

  it("refuses a wrong password, an unknown user and no user, and logs each", async () => {
    const { url, logLines } = await start();
    await expect(login(url, "w1", "guess")).rejects.toThrow(
      /^mqtt:\/\/127\.0\.0\.1:\d+: cannot connect: .*Bad username or password/,
    );
    await expect(login(url, "mallory", "x")).rejects.toThrow(BrokerError);
    await expect(connectBroker(url, { reconnectPeriodMs: 0 })).rejects.toThrow(/Bad username or password/);
    expect(logLines.filter((l) => l.startsWith("refused"))).toEqual([
      expect.stringMatching(/^refused client worker-w1 \(127\.0\.0\.1:\d+\): wrong password for w1$/),
      expect.stringMatching(/^refused client mallory-\S+ \(.*\): unknown user mallory$/),
      expect.stringMatching(/^refused client \S+ \(.*\): no username$/),
    ]);
  });

  it("drops a worker that publishes a plan, and the plan goes nowhere", async () => {
    const { url, logLines } = await start();
    const seen = await watchAll(url);
    const worker = await login(url, "w1");
    expect(await publishAndSeeDropped(worker, t.plan())).toBe(true);
    expect(logLines.join("\n")).toMatch(
      /denied publish on edgefuse\/v1\/lab\/plan by client worker-w1 \(.*\): worker w1 may not publish plan topics/,
    );

    const planner = await login(url, "planner");
    await planner.publishAsync(t.plan(), "real plan", { qos: 1 });
    expect(await seen.next()).toBe(`${t.plan()} real plan`);
  });

  it("drops a client that publishes results, and a worker that speaks for another", async () => {
    const { url } = await start();
    expect(await publishAndSeeDropped(await login(url, "client"), t.results("r1"))).toBe(true);
    expect(await publishAndSeeDropped(await login(url, "w1"), t.worker("w2"))).toBe(true);
    expect(await publishAndSeeDropped(await login(url, "w1"), t.worker("w1"))).toBe(false);
    expect(await publishAndSeeDropped(await login(url, "source"), t.results("r1"))).toBe(false);
  });

  /** Every topic `client` is handed under edgefuse/#. */
  const topicsSeenBy = async (client: MqttClient) => {
    const got = inbox<string>();
    await subscribeChunked(client, "edgefuse/#", {
      onMessage: (topic) => got.push(topic),
      onError: (e) => {
        throw e;
      },
    });
    return got;
  };

  it("delivers to a client only what its role may read, and of the results only its own requests'", async () => {
    const { url } = await start();
    const camera = await login(url, "client");
    const got = await topicsSeenBy(camera);
    const other = await topicsSeenBy(await login(url, "cam2"));
    await camera.publishAsync(t.infer("r1"), "image", { qos: 1 });
    const source = await login(url, "source");
    await source.publishAsync(t.partIn("j", 0, 0), "tensor", { qos: 1 });
    await source.publishAsync(t.results("r1"), "{}", { qos: 1 });
    await source.publishAsync(t.errors("r1"), "{}", { qos: 1 });
    expect(await got.next()).toBe(t.results("r1"));
    expect(await got.next()).toBe(t.errors("r1"));
    // cam2 sent no r1: the first thing it gets is the status after it.
    await source.publishAsync(t.status(), "online", { qos: 1 });
    expect(await other.next()).toBe(t.status());
    // The same user's other connection reads them too (a camera that listens on one and sends on another).
    const listener = await topicsSeenBy(await login(url, "client"));
    await source.publishAsync(t.results("r1"), "{}", { qos: 1 });
    expect(await listener.next()).toBe(t.results("r1"));
  });

  it("lets a viewer read the dashboard topics, presence, the plan, traces and results, never a shard or a job tensor, and drops it when it publishes", async () => {
    const { url } = await start();
    const viewer = await login(url, "panel");
    const got = await topicsSeenBy(viewer);
    const source = await login(url, "source");
    const planner = await login(url, "planner");
    const admin = await login(url, "admin");
    // Had the viewer been handed any of these, they would come before what it reads next.
    const unread = [
      t.deviceShard("w1", "0".repeat(64)),
      `${t.deviceShard("w1", "0".repeat(64))}/c/0`,
      t.shardRequest("w1"),
      t.infer("r"),
      t.layerIn("j", 1),
      t.partIn("j", 0, 0),
      `${t.partOut("j", 0, 0)}/c/0`,
    ];
    for (const topic of unread) await admin.publishAsync(topic, "x", { qos: 1 });
    await planner.publishAsync(t.plan(), "{}", { qos: 1 });
    for (const topic of [t.status(), t.latest(), t.annotated(), t.worker("source"), t.trace("anyone")])
      await source.publishAsync(topic, "x", { qos: 1 });
    for (const topic of unread) await admin.publishAsync(topic, "x", { qos: 1 });
    for (const topic of [t.results("anyone"), t.errors("anyone"), t.results("last")])
      await source.publishAsync(topic, "x", { qos: 1 });
    const seen = [];
    for (let i = 0; i < 9; i++) seen.push(await got.next());
    expect(seen).toEqual([
      t.plan(),
      t.status(),
      t.latest(),
      t.annotated(),
      t.worker("source"),
      t.trace("anyone"),
      t.results("anyone"),
      t.errors("anyone"),
      t.results("last"),
    ]);
    expect(await publishAndSeeDropped(viewer, t.infer("r"))).toBe(true);
  });

  /** A plan as the broker reads it: task (1, 0) on w1, (1, 1) on w2, (2, 0) in FUSE2 (no topic of its own). */
  const plan = (id: string, extra = {}) =>
    JSON.stringify({
      id,
      ftp: null,
      steps: [
        { layer: 0, scheme: "source" },
        {
          layer: 1,
          scheme: "fuse1",
          parts: [
            { part: 0, workerId: "w1" },
            { part: 1, workerId: "w2" },
          ],
        },
        {
          layer: 2,
          scheme: "fuse2",
          parts: [
            { part: 0, workerId: "w1" },
            { part: 1, workerId: "w2" },
          ],
        },
      ],
      ...extra,
    });

  it("drops a worker that publishes an output the plan routes to another, and passes the one it routes to it", async () => {
    const { url, logLines } = await start();
    const outputs = inbox<string>();
    await subscribeChunked(await login(url, "source"), t.filters.partOut(), {
      onMessage: (topic, payload) => outputs.push(`${topic} ${payload}`),
      onError: (e) => {
        throw e;
      },
    });
    // No plan yet: no one's output.
    expect(await publishAndSeeDropped(await login(url, "w1"), t.partOut("j", 1, 0))).toBe(true);
    await (await login(url, "planner")).publishAsync(t.plan(), plan("p1"), { qos: 1, retain: true });

    const forger = await login(url, "w2");
    expect(await publishAndSeeDropped(forger, t.partOut("j", 1, 0))).toBe(true);
    expect(logLines).toContainEqual(
      expect.stringMatching(
        /^denied publish on edgefuse\/v1\/lab\/job\/j\/layer\/1\/part\/0\/out by client worker-w2 \(.*\): worker w2 may not publish the output of layer 1 part 0: the plan routes it to w1$/,
      ),
    );
    expect(await publishAndSeeDropped(await login(url, "w2"), t.partOut("j", 2, 1))).toBe(true); // FUSE2: no task of its own
    const worker = await login(url, "w1");
    await publishChunked(worker, t.partOut("j", 1, 0), Buffer.from("the real output"), { maxPacketBytes: 4096 });
    expect(await outputs.next()).toBe(`${t.partOut("j", 1, 0)} the real output`);
    expect(await publishAndSeeDropped(await login(url, "w2"), t.partOut("j", 1, 1))).toBe(false);
  });

  it("follows a plan sent in chunks, keeps the plan before it for outputs in flight, and routes nothing by a non-plan", async () => {
    const { url, logLines } = await start();
    const planner = await login(url, "planner");
    await planner.publishAsync(t.plan(), plan("p1"), { qos: 1, retain: true });
    // The next plan swaps the workers, and is big enough to travel in chunks (a cfg of 20 KB).
    const swapped = plan("p2", { model: { cfg: "#".repeat(20_000) } })
      .replaceAll('"w1"', '"wx"')
      .replaceAll('"w2"', '"w1"');
    await planner.publishAsync(t.plan(), "", { qos: 1, retain: true }); // the planner clears a chunked plan first
    const report = await publishChunked(planner, t.plan(), Buffer.from(swapped), {
      maxPacketBytes: 4096,
      retain: true,
    });
    expect(report.chunkCount).toBeGreaterThan(1);
    // p2 gives w1 part 1; p1's part 0 is still w1's for a task started before the switch.
    expect(await publishAndSeeDropped(await login(url, "w1"), t.partOut("j", 1, 1))).toBe(false);
    expect(await publishAndSeeDropped(await login(url, "w1"), t.partOut("j", 1, 0))).toBe(false);
    expect(await publishAndSeeDropped(await login(url, "w2"), t.partOut("j", 1, 1))).toBe(false); // p1's
    await planner.publishAsync(t.plan(), plan("p3", { steps: [{ layer: 0, scheme: "source" }] }), {
      qos: 1,
      retain: true,
    });
    // p3 routes nothing and p2 is the plan before it: p1's w2 is out.
    expect(await publishAndSeeDropped(await login(url, "w2"), t.partOut("j", 1, 1))).toBe(true);
    await planner.publishAsync(t.plan(), "not a plan", { qos: 1, retain: true });
    expect(logLines).toContain("plan of deployment lab is not a plan: no task's output is accepted until one comes");
    expect(await publishAndSeeDropped(await login(url, "w2"), t.partOut("j", 1, 1))).toBe(true);
  });

  it("refuses a client id another user is connected with, and a client user the source's id", async () => {
    const { url, logLines } = await start();
    const source = await login(url, "source");
    await expect(login(url, "client", undefined, { clientId: "source-source" })).rejects.toThrow(/Identifier rejected/);
    expect(logLines).toContainEqual(
      expect.stringMatching(
        /^refused client source-source \(.*\): client client may connect only as an id that does not start with worker-, source-, planner- \(the devices' and the planner's\), not source-source$/,
      ),
    );
    // The source was not kicked off: it is still connected and publishing.
    expect(source.connected).toBe(true);
    expect(await publishAndSeeDropped(source, t.status())).toBe(false);

    const camera = await login(url, "client", undefined, { clientId: "camera-1" });
    await expect(login(url, "cam2", undefined, { clientId: "camera-1" })).rejects.toThrow(/Identifier rejected/);
    expect(logLines).toContainEqual(
      expect.stringMatching(/^refused client camera-1 \(.*\): client id camera-1 is connected as user client$/),
    );
    expect(camera.connected).toBe(true);
    // Its own user may take it over (a reconnection the broker has not noticed the end of yet).
    const closed = new Promise<void>((resolve) => camera.once("close", () => resolve()));
    await login(url, "client", undefined, { clientId: "camera-1" });
    await closed;
  });

  it("lets a worker's last will clear its own presence", async () => {
    const { url } = await start();
    const seen = await watchAll(url);
    const worker = await login(url, "w1", undefined, { will: { topic: t.worker("w1"), payload: "", retain: true } });
    await worker.publishAsync(t.worker("w1"), "{}", { qos: 1, retain: true });
    expect(await seen.next()).toBe(`${t.worker("w1")} {}`);
    worker.stream.destroy();
    expect(await seen.next()).toBe(`${t.worker("w1")} `);
  });
});

describe("embedded broker for anonymous guests (no auth file)", () => {
  const teardown = useTeardown();
  const logins = deploymentLogins("lab", ["w1"]);
  const start = async () => teardown.broker(await startEmbedded({ anonymous: "guest", localUsers: logins.users }));
  const as = async (url: string, login: { username: string; password: string }, clientId: string) =>
    teardown.client(await connectBroker(url, { ...login, clientId, reconnectPeriodMs: 0 }));

  it("lets an anonymous client send requests and read their results and the status, and nothing of the model", async () => {
    const { url } = await start();
    const guest = teardown.client(await connectBroker(url, { clientId: "guest", reconnectPeriodMs: 0 }));
    const got = inbox<string>();
    await subscribeChunked(guest, "edgefuse/#", {
      onMessage: (topic) => got.push(topic),
      onError: (e) => {
        throw e;
      },
    });
    const requests = inbox<string>();
    const source = await as(url, logins.source, "source-lab");
    await subscribeChunked(source, t.filters.requests, {
      onMessage: (topic) => requests.push(topic),
      onError: (e) => {
        throw e;
      },
    });
    await guest.publishAsync(t.infer("mine"), "image", { qos: 1 });
    expect(await requests.next()).toBe(t.infer("mine"));
    // Another anonymous connection gets the result by naming the request (mosquitto_pub, then mosquitto_sub), not by a wildcard.
    const watch = async (filter: string[]) => {
      const seen = inbox<string>();
      const client = teardown.client(await connectBroker(url, { reconnectPeriodMs: 0 }));
      await subscribeChunked(client, filter, {
        onMessage: (topic) => seen.push(topic),
        onError: (e) => {
          throw e;
        },
      });
      return seen;
    };
    const named = await watch([t.results("mine")]);
    const wildcard = await watch([t.filters.results(), t.status()]);

    const planner = await as(url, logins.planner, "planner-lab");
    await planner.publishAsync(t.plan(), "{}", { qos: 1, retain: true });
    await planner.publishAsync(t.deviceShard("w1", "0".repeat(64)), "weights", { qos: 1 });
    for (const topic of [t.layerIn("j", 1), t.partIn("j", 1, 0), t.worker("source"), t.latest(), t.annotated()])
      await source.publishAsync(topic, "x", { qos: 1 });
    await source.publishAsync(t.results("someone-elses"), "{}", { qos: 1 });
    await source.publishAsync(t.results("mine"), "{}", { qos: 1 });
    await source.publishAsync(t.status(), "online", { qos: 1 });
    expect([await got.next(), await got.next()]).toEqual([t.results("mine"), t.status()]);
    expect(await named.next()).toBe(t.results("mine"));
    // The status came after every result: a wildcard got none of them.
    expect(await wildcard.next()).toBe(t.status());
  });

  it("drops an anonymous client that publishes a plan, and refuses one that takes the source's id", async () => {
    const { url, logLines } = await start();
    const guest = teardown.client(await connectBroker(url, { clientId: "guest", reconnectPeriodMs: 0 }));
    const closed = new Promise<void>((resolve) => guest.once("close", () => resolve()));
    guest.publish(t.plan(), "{}", { qos: 1, retain: true });
    await closed;
    expect(logLines).toContainEqual(
      expect.stringMatching(/: an anonymous client may publish only requests, not plan topics$/),
    );
    const source = await as(url, logins.source, "source-lab");
    await expect(connectBroker(url, { clientId: "source-lab", reconnectPeriodMs: 0 })).rejects.toThrow(
      /Identifier rejected/,
    );
    expect(source.connected).toBe(true);
    // A login the broker does not know is anonymous here; a known one with the wrong password is refused.
    await expect(
      connectBroker(url, { username: logins.planner.username, password: "guess", reconnectPeriodMs: 0 }),
    ).rejects.toThrow(/Bad username or password/);
  });
});

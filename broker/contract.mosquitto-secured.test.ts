/**
 * The broker contract against Mosquitto set up as a team would run it for edgefuse: TLS
 * with a CA made by the test, users in a password_file and the ACL edgefuse generates
 * (mosquitto-acl.ts). Then that the ACL holds on a real Mosquitto as it does on the
 * embedded broker: each role publishes and reads only what topics.ts gives it.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { inbox, loginOptions, startSecuredMosquitto, useTeardown } from "../test/brokers.js";
import type { UserRole } from "./auth.js";
import { brokerContract } from "./broker.contract.js";
import { type Bus, connectBus } from "./bus.js";
import { connectBroker } from "./client.js";
import { topicsFor } from "./topics.js";

brokerContract(() => startSecuredMosquitto());

describe("edgefuse's ACL on a real Mosquitto", () => {
  const brokers = useTeardown("all");
  const teardown = useTeardown("each");
  let broker: Awaited<ReturnType<typeof startSecuredMosquitto>>;
  let n = 0;
  const topics = () => topicsFor(`acl-${process.pid}-${++n}`);

  beforeAll(async () => {
    broker = brokers.broker(await startSecuredMosquitto());
  });

  const as = async (role: UserRole, deviceId?: string): Promise<Bus> => {
    const bus = await connectBus(broker.url, {
      clientId: `acl-${deviceId ?? role}-${++n}`,
      reconnectPeriodMs: 0,
      ...loginOptions(broker.login(role, deviceId)),
    });
    teardown.client(bus.client);
    return bus;
  };
  /** Everything `bus` is delivered on `filter`, until 300 ms pass without a message. */
  const heard = async (bus: Bus, filter: string) => {
    const got = inbox<string>();
    await bus.subscribe(filter, { onMessage: (topic) => got.push(topic), onError: () => undefined });
    return async () => {
      const topicsHeard: string[] = [];
      for (;;) {
        const topic = await got.next(300).catch(() => null);
        if (topic === null) return topicsHeard;
        topicsHeard.push(topic);
      }
    };
  };

  it("a worker's plan and another worker's presence are not delivered; the planner's plan and its own presence are", async () => {
    const t = topics();
    const admin = await as("admin");
    const all = await heard(admin, t.filters.all);
    const worker = await as("worker", "worker-1");
    await worker.publish(t.plan(), '{"forged":true}', { retain: true });
    await worker.publish(t.worker("worker-2"), '{"forged":true}', { retain: true });
    await worker.publish(t.worker("worker-1"), '{"mine":true}');
    const planner = await as("planner");
    await planner.publish(t.plan(), '{"plan":1}');
    expect((await all()).sort()).toEqual([t.plan(), t.worker("worker-1")].sort());
  });

  it("a client reads results but not a shard, a plan or a job tensor; a viewer reads the plan, no shard", async () => {
    const t = topics();
    const client = await as("client");
    const viewer = await as("viewer");
    const clientHeard = await heard(client, t.filters.all);
    const viewerHeard = await heard(viewer, t.filters.all);
    const planner = await as("planner");
    await planner.publish(t.deviceShard("worker-1", "a".repeat(64)), Buffer.alloc(1000, 1));
    await planner.publish(t.plan(), '{"plan":1}');
    const source = await as("source", "source");
    await source.publish(t.partIn("j1", 0, 0), Buffer.alloc(100), { qos: 0 });
    await source.publish(t.results("r1"), "{}");
    expect(await clientHeard()).toEqual([t.results("r1")]);
    expect((await viewerHeard()).sort()).toEqual([t.plan(), t.results("r1")].sort());
  });

  it("a worker reads only the shards sent to it", async () => {
    const t = topics();
    const mine = await heard(await as("worker", "worker-1"), t.filters.deviceShard());
    const planner = await as("planner");
    await planner.publish(t.deviceShard("worker-2", "b".repeat(64)), Buffer.alloc(10));
    await planner.publish(t.deviceShard("worker-1", "c".repeat(64)), Buffer.alloc(10));
    expect(await mine()).toEqual([t.deviceShard("worker-1", "c".repeat(64))]);
  });

  it("refuses an anonymous client, a wrong password, and a client that does not trust the broker's CA", async () => {
    const login = loginOptions(broker.login("client"));
    const attempt = (options: Parameters<typeof connectBroker>[1]) =>
      connectBroker(broker.url, { reconnectPeriodMs: 0, connectTimeoutMs: 3_000, ...options });
    await expect(attempt({ tls: login.tls! })).rejects.toThrow(/Not authorized|Bad username or password/i);
    await expect(attempt({ ...login, password: "wrong" })).rejects.toThrow(/Not authorized|Bad username or password/i);
    await expect(attempt({ username: login.username!, password: login.password! })).rejects.toThrow(
      /self.signed|unable to verify|certificate/i,
    );
    const ok = await attempt(login);
    await ok.endAsync();
  });
});

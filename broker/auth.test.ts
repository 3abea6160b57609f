import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ANONYMOUS,
  clientIdDenial,
  deploymentLogins,
  requestNamedBy,
  hashPassword,
  loadAuthFile,
  mayRead,
  NO_CONTEXT,
  parseAuthFile,
  publishDenial,
  verifyPassword,
  type AclContext,
  type AuthUser,
  type Principal,
  USER_ROLES,
} from "./auth.js";
import { AuthFileError } from "./errors.js";
import { topicsFor } from "./topics.js";

const t = topicsFor("lab");
const sha = "0".repeat(64);
const user = (role: AuthUser["role"], username: string = role): AuthUser => ({ username, password: "x", role });
/** A plan that routes task (1, 0) to w1, and a client that sent request r. */
const context: AclContext = {
  outputOwners: (deployment, layer, part) => (deployment === "lab" && layer === 1 && part === 0 ? ["w1"] : []),
  sentRequest: (requestId) => requestId === "r",
  namedRequest: (requestId) => requestId === "named",
};
/** The id a principal would publish its own presence and shard requests under (an anonymous client has none). */
const deviceIdOf = (u: Principal) => (u.role === "anonymous" ? "anonymous" : u.workerId || u.username);
const allowedToPublish = (u: Principal) =>
  Object.entries({
    plan: t.plan(),
    deviceShard: t.deviceShard("w1", sha),
    deviceShardChunk: `${t.deviceShard("w1", sha)}/c/3`,
    ownShardRequest: t.shardRequest(deviceIdOf(u)),
    otherShardRequest: t.shardRequest("someone-else"),
    results: t.results("r"),
    errors: t.errors("r"),
    layerIn: t.layerIn("j", 1),
    partIn: t.partIn("j", 1, 0),
    partOut: t.partOut("j", 1, 0),
    partOutChunk: `${t.partOut("j", 1, 0)}/c/0`,
    ownPresence: t.worker(deviceIdOf(u)),
    otherPresence: t.worker("someone-else"),
    infer: t.infer("r"),
    status: t.status(),
    latest: t.latest(),
    annotated: t.annotated(),
    trace: t.trace("r"),
    stats: t.stats(),
    foreign: "home/livingroom/temp",
  })
    .filter(([, topic]) => publishDenial(u, topic, context) === null)
    .map(([name]) => name);

describe("ACL", () => {
  it("lets each role publish only its own topics", () => {
    expect(allowedToPublish(user("planner"))).toEqual(["plan", "deviceShard", "deviceShardChunk"]);
    // The source is a device too (its own presence); workers report failed tasks on errors/<jobId>.
    // Only the source says whether the deployment is online (and publishes what Home Assistant shows).
    // A device asks for its own shards only; only the planner sends them.
    expect(allowedToPublish(user("source"))).toEqual([
      "ownShardRequest",
      "results",
      "errors",
      "layerIn",
      "partIn",
      "ownPresence",
      "status",
      "latest",
      "annotated",
      "trace",
    ]);
    expect(allowedToPublish(user("worker", "w1"))).toEqual([
      "ownShardRequest",
      "errors",
      "partOut",
      "partOutChunk",
      "ownPresence",
    ]);
    expect(allowedToPublish(user("client"))).toEqual(["infer"]);
    expect(allowedToPublish(ANONYMOUS)).toEqual(["infer"]);
    expect(allowedToPublish(user("viewer"))).toEqual([]);
    expect(allowedToPublish(user("admin"))).toHaveLength(20);
  });

  it("lets a worker publish only the outputs the plan routes to it", () => {
    expect(publishDenial(user("worker", "w1"), t.partOut("j", 1, 0), context)).toBeNull();
    expect(publishDenial(user("worker", "w2"), t.partOut("j", 1, 0), context)).toBe(
      "worker w2 may not publish the output of layer 1 part 0: the plan routes it to w1",
    );
    expect(publishDenial(user("worker", "w1"), `${t.partOut("j", 2, 0)}/c/4`, context)).toBe(
      "worker w1 may not publish the output of layer 2 part 0: no plan of deployment lab routes it to a worker",
    );
    // Another deployment's plan routes nothing here; without a context nothing is routed at all.
    expect(publishDenial(user("worker", "w1"), topicsFor("other").partOut("j", 1, 0), context)).not.toBeNull();
    expect(publishDenial(user("worker", "w1"), t.partOut("j", 1, 0), NO_CONTEXT)).not.toBeNull();
  });

  it("says why a publish is denied", () => {
    expect(publishDenial(user("worker", "w1"), t.plan())).toBe("worker w1 may not publish plan topics");
    expect(publishDenial({ ...user("worker", "w1"), workerId: "pi-3" }, t.worker("w1"))).toBe(
      "worker w1 may publish only its own presence, not w1's",
    );
    expect(publishDenial(user("source", "cam"), t.shardRequest("w1"))).toBe(
      "source cam may publish only its own shard requests, not w1's",
    );
    expect(publishDenial(user("client"), "x/y")).toBe("client client may not publish outside the edgefuse topics");
  });

  it("lets each role read what it needs", () => {
    expect(mayRead(user("client"), t.results("r"), context)).toBe(true);
    expect(mayRead(user("client"), t.partOut("j", 1, 0))).toBe(false);
    expect([t.status(), t.latest(), t.annotated()].every((topic) => mayRead(user("client"), topic))).toBe(true);
    // A device receives the shards sent to it, not another device's; the planner reads every request.
    expect(mayRead(user("worker", "w1"), `${t.deviceShard("w1", sha)}/c/9`)).toBe(true);
    expect(mayRead({ ...user("worker", "w1"), workerId: "pi-3" }, t.deviceShard("pi-3", sha))).toBe(true);
    expect(mayRead(user("worker", "w1"), t.deviceShard("w2", sha))).toBe(false);
    expect(mayRead(user("source", "cam"), t.deviceShard("cam", sha))).toBe(true);
    expect(mayRead(user("source", "cam"), t.deviceShard("w1", sha))).toBe(false);
    expect(mayRead(user("planner"), t.shardRequest("w1"))).toBe(true);
    expect(mayRead(user("planner"), t.deviceShard("w1", sha))).toBe(false);
    expect(mayRead(user("client"), t.deviceShard("w1", sha))).toBe(false);
    expect(mayRead(user("worker"), t.infer("r"))).toBe(false);
    expect(mayRead(user("source"), t.partOut("j", 1, 0))).toBe(true);
    expect(mayRead(user("planner"), t.worker("w"))).toBe(true);
    expect(mayRead(user("admin"), "$SYS/anything")).toBe(true);
  });

  it("gives a client the results and errors of its own requests only", () => {
    for (const reader of [user("client"), ANONYMOUS] as const) {
      expect(mayRead(reader, t.results("r"), context)).toBe(true);
      expect(mayRead(reader, `${t.results("r")}/c/1`, context)).toBe(true);
      expect(mayRead(reader, t.errors("r"), context)).toBe(true);
      expect(mayRead(reader, t.results("someone-elses"), context)).toBe(false);
      expect(mayRead(reader, t.errors("someone-elses"), context)).toBe(false);
    }
    // An anonymous client's requests are its connection's: one sent on another it reads by naming it.
    expect(mayRead(ANONYMOUS, t.results("named"), context)).toBe(true);
    expect(mayRead(user("client"), t.results("named"), context)).toBe(false);
  });

  it("knows a subscription that names a request from one with a wildcard", () => {
    expect(requestNamedBy(t.results("r1"))).toBe("r1");
    expect(requestNamedBy(`${t.results("r1")}/c/+`)).toBe("r1");
    expect(requestNamedBy(t.errors("r1"))).toBe("r1");
    expect([t.filters.results(), `${t.prefix}results/#`, t.infer("r1"), `${t.prefix}#`].map(requestNamedBy)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("lets a viewer read the dashboard topics, presence, the plan, stats and every trace, result and error, and nothing else", () => {
    const viewer = user("viewer", "panel");
    const read = [
      t.status(),
      t.latest(),
      t.annotated(),
      t.results("anyone"),
      `${t.annotated()}/c/0`,
      t.plan(),
      `${t.plan()}/c/1`,
      t.worker("w1"),
      t.stats(),
      t.trace("anyone"),
      t.errors("anyone"),
    ];
    expect(read.filter((topic) => mayRead(viewer, topic, NO_CONTEXT))).toEqual(read);
    // No weight shard, no request's image and no job tensor, whole or chunked.
    const unread = [
      t.deviceShard("w1", sha),
      `${t.deviceShard("w1", sha)}/c/0`,
      t.shardRequest("w1"),
      t.layerIn("j", 1),
      t.partIn("j", 1, 0),
      `${t.partIn("j", 1, 0)}/c/3`,
      t.partOut("j", 1, 0),
      t.infer("r"),
    ];
    expect(unread.filter((topic) => mayRead(viewer, topic, context))).toEqual([]);
    expect(publishDenial(viewer, t.results("r"))).toBe("viewer panel may publish nothing (a viewer only reads)");
    // A client reads the traces of its own requests only, as their results; the broker's stats not at all.
    const cam = user("client", "cam");
    expect([t.trace("r"), t.trace("other"), t.stats()].map((topic) => mayRead(cam, topic, context))).toEqual([
      true,
      false,
      false,
    ]);
  });

  it("lets an anonymous client read neither plans, presences, shards nor tensors", () => {
    const topics = [t.plan(), t.worker("w1"), t.deviceShard("w1", sha), t.layerIn("j", 1), t.partIn("j", 1, 0)];
    expect(topics.filter((topic) => mayRead(ANONYMOUS, topic, context))).toEqual([]);
    expect(mayRead(ANONYMOUS, t.partOut("j", 1, 0), context)).toBe(false);
    expect(mayRead(ANONYMOUS, t.latest(), context)).toBe(false); // another user's last result
    expect(mayRead(ANONYMOUS, t.status(), context)).toBe(true);
    expect(publishDenial(ANONYMOUS, t.plan())).toBe("an anonymous client may publish only requests, not plan topics");
  });

  it("lets only the source publish its load, on a connection of its own, and clients, viewers and guests read it", () => {
    const everyone: Principal[] = [...USER_ROLES.map((role) => user(role)), ANONYMOUS];
    const publishers = everyone.filter((p) => publishDenial(p, t.load(), context) === null).map((p) => p.role);
    expect(publishers).toEqual(["source", "admin"]);
    expect(publishDenial(user("worker", "w1"), t.load())).toBe("worker w1 may not publish load topics");
    expect(publishDenial(ANONYMOUS, t.load())).toBe("an anonymous client may publish only requests, not load topics");
    const readers = everyone.filter((p) => mayRead(p, t.load(), context)).map((p) => p.role);
    expect(readers).toEqual(["client", "admin", "viewer", "anonymous"]);
    // Its will needs a connection of its own: the source may connect as source-<id>-load, in `up` too.
    expect(clientIdDenial(user("source", "cam"), "source-cam-load")).toBeNull();
    expect(clientIdDenial(user("client", "cam"), "source-cam-load")).not.toBeNull();
    const up = deploymentLogins("default", []);
    const upSource = up.users.find((u) => u.username === up.source.username)!;
    expect(clientIdDenial(upSource, "source-default-load")).toBeNull();
  });
});

describe("client ids", () => {
  it("lets a device connect only as itself and keeps everyone else off the devices' and the planner's ids", () => {
    expect(clientIdDenial(user("worker", "w1"), "worker-w1")).toBeNull();
    expect(clientIdDenial(user("worker", "w1"), "worker-w2")).toBe(
      "worker w1 may connect only as worker-w1, not worker-w2",
    );
    expect(clientIdDenial({ ...user("worker", "pi"), workerId: "pi-3" }, "worker-pi-3")).toBeNull();
    expect(clientIdDenial(user("source", "cam"), "source-cam")).toBeNull();
    expect(clientIdDenial(user("source", "cam"), "source-cam-status")).toBeNull();
    expect(clientIdDenial(user("source", "cam"), "source-other")).not.toBeNull();
    expect(clientIdDenial(user("planner"), "planner-lab")).toBeNull();
    for (const who of [user("client", "cam"), user("viewer", "panel"), ANONYMOUS]) {
      expect(clientIdDenial(who, "infer-r1")).toBeNull();
      for (const id of ["source-cam", "source-default-status", "worker-w1", "planner-lab"])
        expect(clientIdDenial(who, id)).toMatch(
          /may connect only as an id that does not start with worker-, source-, planner-/,
        );
    }
    expect(clientIdDenial(user("admin"), "source-cam")).toBeNull();
  });

  it("takes the ids a user names instead of its role's", () => {
    const named = { ...user("source", "cam"), clientIds: ["cam-data", "cam-status"] };
    expect(clientIdDenial(named, "cam-status")).toBeNull();
    expect(clientIdDenial(named, "source-cam")).toBe("source cam may connect only as cam-data or cam-status");
  });

  it("makes up's own users: each with a fresh password and the client ids its actor uses", () => {
    const made = deploymentLogins("default", ["worker-1", "worker-2"]);
    const again = deploymentLogins("default", ["worker-1", "worker-2"]);
    expect(made.users.map((u) => [u.username, u.role])).toEqual([
      ["up:default:planner", "planner"],
      ["up:default:source", "source"],
      ["up:default:worker-1", "worker"],
      ["up:default:worker-2", "worker"],
      ["up:default:client", "client"],
      ["up:default:viewer", "viewer"],
    ]);
    expect(made.worker("worker-2").password).not.toBe(again.worker("worker-2").password);
    expect(made.worker("worker-2").password.length).toBeGreaterThanOrEqual(32);
    const byName = new Map(made.users.map((u) => [u.username, u]));
    expect(clientIdDenial(byName.get(made.source.username)!, "source-default-status")).toBeNull();
    expect(clientIdDenial(byName.get(made.planner.username)!, "planner-default")).toBeNull();
    expect(clientIdDenial(byName.get(made.worker("worker-1").username)!, "worker-worker-1")).toBeNull();
    expect(clientIdDenial(byName.get(made.client.username)!, "source-default")).not.toBeNull();
  });
});

describe("auth file", () => {
  it("hashes with scrypt and verifies", async () => {
    const hash = await hashPassword("s3cret");
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword("s3cret", hash)).toBe(true);
    expect(await verifyPassword("s3cret!", hash)).toBe(false);
    expect(await verifyPassword("s3cret", "scrypt$nonsense")).toBe(false);
    expect(await verifyPassword("plain", "plain")).toBe(true);
  });

  it("names the problem in a bad file", async () => {
    expect(() => parseAuthFile({ users: [{ username: "a", password: "p", role: "boss" }] }, "auth.json")).toThrow(
      /^auth\.json: users\.0\.role: Invalid option/,
    );
    expect(() => parseAuthFile({ users: [] }, "f")).toThrow(/users: Too small/);
    const dup = { users: [user("client", "a"), user("source", "a")] };
    expect(() => parseAuthFile(dup, "f")).toThrow(new AuthFileError("f", "user a appears twice"));
    expect(() => parseAuthFile({ users: [user("worker", "w/1")] }, "f")).toThrow(/not a valid device id/);
    expect(parseAuthFile({ users: [user("viewer", "panel")] }, "f").users[0]!.role).toBe("viewer");

    const dir = await mkdtemp(join(tmpdir(), "edgefuse-auth-"));
    try {
      await writeFile(join(dir, "bad.json"), "{ users: ");
      await expect(loadAuthFile(join(dir, "bad.json"))).rejects.toThrow(/bad\.json: not JSON/);
      await expect(loadAuthFile(join(dir, "missing.json"))).rejects.toThrow(/missing\.json: cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

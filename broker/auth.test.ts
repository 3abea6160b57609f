import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  hashPassword,
  loadAuthFile,
  mayRead,
  parseAuthFile,
  publishDenial,
  verifyPassword,
  type AuthUser,
} from "./auth.js";
import { AuthFileError } from "./errors.js";
import { topicsFor } from "./topics.js";

const t = topicsFor("lab");
const sha = "0".repeat(64);
const user = (role: AuthUser["role"], username: string = role): AuthUser => ({ username, password: "x", role });
const allowedToPublish = (u: AuthUser) =>
  Object.entries({
    plan: t.plan(),
    deviceShard: t.deviceShard("w1", sha),
    deviceShardChunk: `${t.deviceShard("w1", sha)}/c/3`,
    ownShardRequest: t.shardRequest(u.workerId ?? u.username),
    otherShardRequest: t.shardRequest("someone-else"),
    results: t.results("r"),
    errors: t.errors("r"),
    layerIn: t.layerIn("j", 1),
    partIn: t.partIn("j", 1, 0),
    partOut: t.partOut("j", 1, 0),
    partOutChunk: `${t.partOut("j", 1, 0)}/c/0`,
    ownPresence: t.worker(u.workerId ?? u.username),
    otherPresence: t.worker("someone-else"),
    infer: t.infer("r"),
    status: t.status(),
    latest: t.latest(),
    annotated: t.annotated(),
    foreign: "home/livingroom/temp",
  })
    .filter(([, topic]) => publishDenial(u, topic) === null)
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
    ]);
    expect(allowedToPublish(user("worker", "w1"))).toEqual([
      "ownShardRequest",
      "errors",
      "partOut",
      "partOutChunk",
      "ownPresence",
    ]);
    expect(allowedToPublish(user("client"))).toEqual(["infer"]);
    expect(allowedToPublish(user("admin"))).toHaveLength(18);
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
    expect(mayRead(user("client"), t.results("r"))).toBe(true);
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
    expect(() => parseAuthFile({ users: [user("worker", "w/1")] }, "f")).toThrow(/not a valid worker id/);

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

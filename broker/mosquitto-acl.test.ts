import { describe, expect, it } from "vitest";
import { mosquittoAcl } from "./mosquitto-acl.js";

/** The lines of one user's section. */
const section = (acl: string, username: string) => {
  const block = acl.split("\n\n").find((b) => b.split("\n").includes(`user ${username}`));
  if (!block) throw new Error(`no section for ${username}`);
  return block.split("\n").filter((l) => l.startsWith("topic "));
};

describe("mosquittoAcl", () => {
  const acl = mosquittoAcl({
    deployment: "lab",
    users: [
      { username: "planner", role: "planner" },
      { username: "cam", role: "client" },
      { username: "pi-2", role: "worker", workerId: "worker-2" },
      { username: "source", role: "source" },
      { username: "panel", role: "viewer" },
      { username: "root", role: "admin" },
    ],
  });

  it("gives the planner the plan and every device's shards, and no request or result", () => {
    const lines = section(acl, "planner");
    expect(lines).toContain("topic write edgefuse/v1/lab/plan");
    expect(lines).toContain("topic write edgefuse/v1/lab/plan/c/+");
    expect(lines).toContain("topic write edgefuse/v1/lab/devices/+/shards/+");
    expect(lines).toContain("topic read edgefuse/v1/lab/shard-requests/+");
    expect(lines.some((l) => /infer|results/.test(l))).toBe(false);
  });

  it("holds a worker to its own id: its presence, its shard requests, the shards sent to it", () => {
    const lines = section(acl, "pi-2");
    expect(lines).toContain("topic write edgefuse/v1/lab/workers/worker-2");
    expect(lines).toContain("topic write edgefuse/v1/lab/shard-requests/worker-2");
    expect(lines).toContain("topic read edgefuse/v1/lab/devices/worker-2/shards/+");
    expect(lines).toContain("topic read edgefuse/v1/lab/workers/+");
    expect(lines).toContain("topic write edgefuse/v1/lab/job/+/layer/+/part/+/out");
    expect(lines.some((l) => l.includes("/plan") && l.startsWith("topic write"))).toBe(false);
  });

  it("lets a client send requests and read results, never shards, plans or tensors", () => {
    const lines = section(acl, "cam");
    expect(lines).toContain("topic write edgefuse/v1/lab/infer/+");
    expect(lines).toContain("topic read edgefuse/v1/lab/results/+");
    expect(lines.some((l) => /shards|\/plan|\/job\//.test(l))).toBe(false);
  });

  it("gives the source its Home Assistant configs, a viewer only reads, an admin everything", () => {
    expect(section(acl, "source")).toContain("topic write homeassistant/sensor/+/config");
    const viewer = section(acl, "panel");
    expect(viewer.length).toBeGreaterThan(0);
    expect(viewer.every((l) => l.startsWith("topic read "))).toBe(true);
    expect(viewer.some((l) => /shards|infer|\/job\//.test(l))).toBe(false);
    expect(section(acl, "root")).toEqual(["topic readwrite #"]);
  });

  it("leaves anonymous clients nothing: no topic line before the first user", () => {
    expect(acl.slice(0, acl.indexOf("\nuser ")).includes("\ntopic ")).toBe(false);
  });

  it("covers any deployment without one, and refuses names Mosquitto would misread", () => {
    expect(section(mosquittoAcl({ users: [{ username: "c", role: "client" }] }), "c")).toContain(
      "topic write edgefuse/v1/+/infer/+",
    );
    expect(() => mosquittoAcl({ users: [{ username: "a\nuser admin", role: "client" }], from: "users.json" })).toThrow(
      /^users\.json: user "a\\nuser admin": no control characters/,
    );
    expect(() => mosquittoAcl({ users: [{ username: "w", role: "worker", workerId: "a/b" }] })).toThrow(/device id/);
  });
});

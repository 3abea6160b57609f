import { describe, expect, it } from "vitest";
import { WireError } from "../core/errors.js";
import {
  TOPIC_KINDS,
  chunkFilter,
  chunkTopic,
  formatTopic,
  inferTopicProblem,
  parseTopic,
  parseTopicOrThrow,
  splitChunkTopic,
  topicMatches,
  topicsFor,
  type EdgefuseTopic,
} from "./topics.js";

const sha = "ab".repeat(32);
const examples: Record<EdgefuseTopic["kind"], [EdgefuseTopic, string]> = {
  infer: [{ kind: "infer", requestId: "r-1" }, "edgefuse/v1/lab/infer/r-1"],
  results: [{ kind: "results", requestId: "r-1" }, "edgefuse/v1/lab/results/r-1"],
  errors: [{ kind: "errors", requestId: "r-1" }, "edgefuse/v1/lab/errors/r-1"],
  worker: [{ kind: "worker", workerId: "pi-4.local" }, "edgefuse/v1/lab/workers/pi-4.local"],
  plan: [{ kind: "plan" }, "edgefuse/v1/lab/plan"],
  status: [{ kind: "status" }, "edgefuse/v1/lab/status"],
  load: [{ kind: "load" }, "edgefuse/v1/lab/load"],
  latest: [{ kind: "latest" }, "edgefuse/v1/lab/latest"],
  annotated: [{ kind: "annotated" }, "edgefuse/v1/lab/annotated"],
  stats: [{ kind: "stats" }, "edgefuse/v1/lab/stats"],
  trace: [{ kind: "trace", requestId: "r-1" }, "edgefuse/v1/lab/trace/r-1"],
  shardRequest: [{ kind: "shardRequest", deviceId: "pi-4.local" }, "edgefuse/v1/lab/shard-requests/pi-4.local"],
  deviceShard: [
    { kind: "deviceShard", deviceId: "pi-4.local", sha256: sha },
    `edgefuse/v1/lab/devices/pi-4.local/shards/${sha}`,
  ],
  layerIn: [{ kind: "layerIn", jobId: "j1", layer: 12 }, "edgefuse/v1/lab/job/j1/layer/12/in"],
  partIn: [{ kind: "partIn", jobId: "j1", layer: 12, part: 3 }, "edgefuse/v1/lab/job/j1/layer/12/part/3/in"],
  partOut: [{ kind: "partOut", jobId: "j1", layer: 0, part: 0 }, "edgefuse/v1/lab/job/j1/layer/0/part/0/out"],
};

describe("topics", () => {
  it.each(TOPIC_KINDS)("builds and parses %s topics, whole and chunked", (kind) => {
    const [value, topic] = examples[kind];
    expect(formatTopic("lab", value)).toBe(topic);
    expect(parseTopic(topic)).toEqual({ ...value, deployment: "lab", chunkIndex: null });
    expect(parseTopic(chunkTopic(topic, 41))).toEqual({ ...value, deployment: "lab", chunkIndex: 41 });
  });

  it("offers the same topics through topicsFor, bound to one deployment", () => {
    const t = topicsFor("lab");
    expect([
      t.infer("r-1"),
      t.results("r-1"),
      t.errors("r-1"),
      t.worker("pi-4.local"),
      t.plan(),
      t.shardRequest("pi-4.local"),
      t.deviceShard("pi-4.local", sha),
    ]).toEqual(
      [
        examples.infer,
        examples.results,
        examples.errors,
        examples.worker,
        examples.plan,
        examples.shardRequest,
        examples.deviceShard,
      ].map(([, s]) => s),
    );
    expect([t.layerIn("j1", 12), t.partIn("j1", 12, 3), t.partOut("j1", 0, 0)]).toEqual(
      [examples.layerIn, examples.partIn, examples.partOut].map(([, s]) => s),
    );
    expect([t.status(), t.latest(), t.annotated()]).toEqual(
      [examples.status, examples.latest, examples.annotated].map(([, s]) => s),
    );
    expect(t.parse(examples.plan[1])).toMatchObject({ kind: "plan" });
    expect(t.parse("edgefuse/v1/other/plan")).toBeNull();
  });

  it.each([
    ["a slash", "a/b"],
    ["a plus", "a+b"],
    ["a hash", "a#"],
    ["nothing", ""],
    ["65 characters", "x".repeat(65)],
    ["a space", "a b"],
  ])("refuses an id with %s", (_, id) => {
    expect(() => topicsFor("lab").infer(id)).toThrow(WireError);
    expect(() => topicsFor(id)).toThrow(/deployment: invalid id/);
  });

  it("refuses bad numbers and hashes", () => {
    const t = topicsFor("lab");
    expect(() => t.partIn("j", -1, 0)).toThrow(/layer: invalid index -1/);
    expect(() => t.partOut("j", 1, 1.5)).toThrow(/part: invalid index 1.5/);
    expect(() => t.deviceShard("w1", "AB".repeat(32))).toThrow(/64 lowercase hex/);
    expect(() => t.shardRequest("w/1")).toThrow(/deviceId: invalid id/);
    expect(() => chunkTopic(t.plan(), -2)).toThrow(/chunk index/);
  });

  it.each([
    "edgefuse/v2/lab/plan",
    "edgefuse/v1/lab",
    "edgefuse/v1/lab/plan/extra",
    "edgefuse/v1/lab/status/extra",
    "edgefuse/v1/lab/infer",
    "edgefuse/v1/lab/infer/a/b",
    `edgefuse/v1/lab/shards/${sha}`,
    "edgefuse/v1/lab/devices/w1/shards/xyz",
    `edgefuse/v1/lab/devices/w 1/shards/${sha}`,
    `edgefuse/v1/lab/devices/w1/plans/${sha}`,
    "edgefuse/v1/lab/shard-requests/a b",
    "edgefuse/v1/lab/job/j1/layer/01/in",
    "edgefuse/v1/lab/job/j1/layer/1/part/2/sideways",
    "edgefuse/v1/lab/job/j1/layer/99999999999/in",
    "edgefuse/v1/l+b/plan",
    "edgefuse/v1/lab/plan/c/x",
    "something/else",
  ])("does not parse %s", (topic) => {
    expect(parseTopic(topic)).toBeNull();
    expect(() => parseTopicOrThrow(topic)).toThrow(
      new WireError(topic, "not an edgefuse topic (see broker/topics.ts)"),
    );
  });

  it("builds subscription filters with + for every field left out", () => {
    const f = topicsFor("lab").filters;
    expect(f.partOut({ jobId: "j1" })).toBe("edgefuse/v1/lab/job/j1/layer/+/part/+/out");
    expect(f.partIn({ jobId: "j1", layer: 4, part: 2 })).toBe("edgefuse/v1/lab/job/j1/layer/4/part/2/in");
    expect(f.layerIn()).toBe("edgefuse/v1/lab/job/+/layer/+/in");
    expect([
      f.job(),
      f.job("j1"),
      f.shardRequest(),
      f.deviceShard({ deviceId: "w1" }),
      f.worker(),
      f.requests,
      f.results(),
      f.errors({ requestId: "r" }),
    ]).toEqual([
      "edgefuse/v1/lab/job/+/#",
      "edgefuse/v1/lab/job/j1/#",
      "edgefuse/v1/lab/shard-requests/+",
      "edgefuse/v1/lab/devices/w1/shards/+",
      "edgefuse/v1/lab/workers/+",
      "edgefuse/v1/lab/infer/#",
      "edgefuse/v1/lab/results/+",
      "edgefuse/v1/lab/errors/r",
    ]);
    expect(() => f.partOut({ jobId: "a/b" })).toThrow(WireError);
  });

  it("derives the ACL from the same table: each kind's publishers and readers", async () => {
    const { TOPIC_TABLE } = await import("./topics.js");
    // every kind someone publishes is read by someone, and the job tensors go at QoS 0;
    // the broker's own stats have no party publishing them and only a viewer reads them (auth.ts VIEWER_READS)
    for (const kind of TOPIC_KINDS.filter((k) => k !== "stats")) {
      expect(TOPIC_TABLE[kind].publish.length, kind).toBeGreaterThan(0);
      expect(TOPIC_TABLE[kind].read.length, kind).toBeGreaterThan(0);
    }
    expect([TOPIC_TABLE.stats.publish.length, TOPIC_TABLE.stats.read.length]).toEqual([0, 0]);
    expect(TOPIC_KINDS.filter((k) => TOPIC_TABLE[k].qos === 0)).toEqual(["layerIn", "partIn", "partOut"]);
    expect(TOPIC_KINDS.filter((k) => TOPIC_TABLE[k].retained)).toEqual([
      "worker",
      "plan",
      "status",
      "load",
      "latest",
      "annotated",
    ]);
  });

  it("says what is wrong with a request topic that does not parse", () => {
    const expected = "expected infer/<requestId>";
    expect(inferTopicProblem("lab", "edgefuse/v1/lab/infer")).toBe(`no request id: ${expected}`);
    expect(inferTopicProblem("lab", "edgefuse/v1/lab/infer/a/b")).toBe(
      `1 level(s) after the request id "a": ${expected}`,
    );
    expect(inferTopicProblem("lab", "edgefuse/v1/lab/infer/a/b/c/0")).toBe(
      `1 level(s) after the request id "a": ${expected}`,
    );
    expect(inferTopicProblem("lab", "edgefuse/v1/lab/infer/not an id!")).toBe(
      'request id "not an id!" is not 1-64 of [A-Za-z0-9._:-]',
    );
    // Valid requests, their chunks and other topics have nothing wrong to report.
    for (const ok of [
      "edgefuse/v1/lab/infer/r1",
      "edgefuse/v1/lab/infer/r1/c/3",
      "edgefuse/v1/lab/plan",
      "edgefuse/v1/other/infer",
    ]) {
      expect(inferTopicProblem("lab", ok)).toBeNull();
    }
    // Every one of them reaches a subscriber to the infer filter.
    const f = topicsFor("lab").filters.requests;
    expect(
      ["edgefuse/v1/lab/infer", "edgefuse/v1/lab/infer/a/b", "edgefuse/v1/lab/infer/r1/c/3"].every((t) =>
        topicMatches(f, t),
      ),
    ).toBe(true);
  });

  it("matches topics the way an MQTT broker does", () => {
    const f = topicsFor("lab").filters;
    expect(topicMatches(f.partOut({ jobId: "j1" }), "edgefuse/v1/lab/job/j1/layer/3/part/0/out")).toBe(true);
    expect(topicMatches(f.partOut({ jobId: "j1" }), "edgefuse/v1/lab/job/j2/layer/3/part/0/out")).toBe(false);
    expect(topicMatches(f.partOut(), "edgefuse/v1/lab/job/j1/layer/3/part/0/out/c/1")).toBe(false);
    expect(topicMatches(f.all, "edgefuse/v1/lab")).toBe(true); // # matches the parent level
    expect(topicMatches(f.deviceShard({ deviceId: "w1" }), `edgefuse/v1/lab/devices/w1/shards/${sha}`)).toBe(true);
    expect(topicMatches(f.deviceShard({ deviceId: "w1" }), `edgefuse/v1/lab/devices/w2/shards/${sha}`)).toBe(false);
    expect(topicMatches("#", "$SYS/broker/uptime")).toBe(false);
    expect(topicMatches("a/+", "a")).toBe(false);
  });

  it("derives chunk topics and filters", () => {
    const f = topicsFor("lab").filters;
    expect(chunkFilter(f.partOut())).toBe("edgefuse/v1/lab/job/+/layer/+/part/+/out/c/+");
    expect(chunkFilter(f.deviceShard({ deviceId: "w1" }))).toBe("edgefuse/v1/lab/devices/w1/shards/+/c/+");
    expect(chunkFilter(f.all)).toBeNull();
    expect(splitChunkTopic("edgefuse/v1/lab/plan/c/12")).toEqual({ base: "edgefuse/v1/lab/plan", chunkIndex: 12 });
    expect(splitChunkTopic("edgefuse/v1/lab/plan/c/012")).toBeNull();
    expect(splitChunkTopic("edgefuse/v1/lab/plan")).toBeNull();
  });
});

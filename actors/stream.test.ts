/**
 * A stream of requests: several in flight at once, a bounded queue that refuses or
 * drops with an error, and a worker killed while three jobs run. Every request ends in
 * exactly one result or one error, and every result is the single-device output for its
 * image (yolov2-tiny with darknet's seeded weights, tensors as float32).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBus } from "../broker/bus.js";
import { decodeJson, errorMessageSchema } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { loadNetwork } from "../dnn/network.js";
import { diff } from "../test/compare.js";
import { inbox } from "../test/brokers.js";
import { cfgPath, imagePath, readOracle } from "../test/fixtures.js";
import { singleDevice, startTinySystem } from "../test/systems.js";
import { runStream } from "../cli/camera-stream.js";
import { imageInput } from "./runtime/image-input.js";
import type { SourceOptions } from "./source/options.js";
import { resultsSchema } from "./source/source.js";
import type { LocalSystem } from "./system.js";

const IMAGES = ["dog.jpg", "horses.jpg", "person.jpg"].map((name) => readFileSync(imagePath(name)));
const PLANNING = { strategy: "lop", ftpEnd: 0, objective: "comm", wire: "f32" } as const;

interface Outcome {
  readonly kind: "result" | "error";
  readonly code?: string;
  readonly message?: string;
  /** A result's run at the source, ms since the epoch: [timestamp − totalMs, timestamp]. */
  readonly ran?: readonly [number, number];
}

/** Publishes every request at once and collects what comes back on results/+ and errors/+, by request id. */
async function burst(system: LocalSystem, ids: readonly string[], payloadOf: (i: number) => Buffer) {
  const topics = topicsFor(system.deployment);
  const bus = await connectBus(system.brokerUrl, { clientId: `burst-${ids[0]}` });
  const outcomes = new Map<string, Outcome[]>(ids.map((id) => [id, []]));
  const all = inbox<void>();
  const record = (id: string | undefined, o: Outcome) => {
    const list = id === undefined ? undefined : outcomes.get(id);
    if (!list) return;
    list.push(o);
    if ([...outcomes.values()].every((l) => l.length > 0)) all.push();
  };
  await bus.subscribe(topics.filters.results(), {
    onMessage: (topic, payload) => {
      const t = topics.parse(topic);
      const r = decodeJson(topic, payload, resultsSchema);
      const end = Date.parse(r.timestamp);
      record(t?.kind === "results" ? t.requestId : undefined, { kind: "result", ran: [end - r.timings.totalMs, end] });
    },
    onError: () => undefined,
  });
  await bus.subscribe(topics.filters.errors(), {
    onMessage: (topic, payload) => {
      const e = decodeJson(topic, payload, errorMessageSchema);
      record(e.requestId, { kind: "error", code: e.code, message: e.message });
    },
    onError: () => undefined,
  });
  return {
    outcomes,
    async send(): Promise<void> {
      await Promise.all(ids.map((id, i) => bus.publish(topics.infer(id), payloadOf(i))));
      await all.next(120_000, "an outcome for every request");
      // A second outcome for any of them would come right after the first ones.
      await new Promise((r) => setTimeout(r, 1000));
    },
    close: () => bus.close({ force: true }),
  };
}

const exactlyOne = (outcomes: Map<string, Outcome[]>) =>
  expect([...outcomes].filter(([, l]) => l.length !== 1).map(([id, l]) => `${id}: ${l.length}`)).toEqual([]);

async function system(
  admission: Partial<Pick<SourceOptions, "inFlight" | "queue" | "overflow">>,
  outputs?: Map<string, Float32Array>,
) {
  const s = await startTinySystem({
    devices: 3,
    workers: "inline",
    planning: PLANNING,
    admission,
    ...(outputs ? { onOutput: (id: string, out: Float32Array) => void outputs.set(id, out) } : {}),
  });
  await s.source.ready();
  return s;
}

describe("a stream of requests", () => {
  const teardown: LocalSystem[] = [];
  afterAll(async () => {
    for (const s of teardown) await s.stop();
  });

  it("20 at once, 3 in flight: each answered once, each the single-device output for its image", async () => {
    const outputs = new Map<string, Float32Array>();
    const s = await system({ inFlight: 3, queue: 32 }, outputs);
    teardown.push(s);
    const tiny = readOracle("yolov2-tiny-s1-dog");
    const network = loadNetwork(cfgPath("yolov2-tiny"));
    const references = await Promise.all(
      IMAGES.map((bytes) =>
        singleDevice(network, join(tiny.dir, tiny.weights), imageInput(bytes, "image", network.input).tensor),
      ),
    );
    const ids = Array.from({ length: 20 }, (_, i) => `s${i}`);
    const b = await burst(s, ids, (i) => IMAGES[i % 3]!);
    try {
      await b.send();
      exactlyOne(b.outcomes);
      expect([...b.outcomes.values()].every((l) => l[0]!.kind === "result")).toBe(true);
      // Several ran at once: some run began before another ended.
      const runs = [...b.outcomes.values()].map((l) => l[0]!.ran!).sort((x, y) => x[0] - y[0]);
      expect(runs.some((r, i) => i > 0 && r[0] < runs[i - 1]![1])).toBe(true);
      for (const [i, id] of ids.entries())
        expect(diff(outputs.get(id)!, references[i % 3]!).relative, id).toBeLessThanOrEqual(1e-4);
    } finally {
      await b.close();
    }
  });

  it.each([
    ["reject", "busy"],
    ["drop-oldest", "dropped"],
  ] as const)(
    "%s with a queue of 2: the overflow ends in %s errors, every request in exactly one outcome",
    async (overflow, code) => {
      const s = await system({ inFlight: 1, queue: 2, overflow });
      teardown.push(s);
      const ids = Array.from({ length: 8 }, (_, i) => `${overflow}-${i}`);
      const b = await burst(s, ids, (i) => IMAGES[i % 3]!);
      try {
        await b.send();
        exactlyOne(b.outcomes);
        const errors = [...b.outcomes.values()].map((l) => l[0]!).filter((o) => o.kind === "error");
        expect(errors.length).toBeGreaterThan(0);
        for (const e of errors) expect(e.code, e.message).toBe(code);
        // drop-oldest keeps the newest: the last request sent is answered.
        if (overflow === "drop-oldest") expect(b.outcomes.get(ids.at(-1)!)![0]!.kind).toBe("result");
        // reject keeps the oldest: the first request sent is answered.
        if (overflow === "reject") expect(b.outcomes.get(ids[0]!)![0]!.kind).toBe("result");
      } finally {
        await b.close();
      }
    },
  );
});

describe("a plan change while a job runs", () => {
  it("ends that job at once with a plan-changed error (not at its deadline), and the next request runs on the new plan", async () => {
    const s = await system({ inFlight: 2, queue: 4 });
    const topics = topicsFor(s.deployment);
    const watcher = await connectBus(s.brokerUrl, { clientId: "replanner" });
    let replanned: Promise<string> | undefined;
    await watcher.subscribe(topics.filters.partIn({ jobId: "p1" }), {
      onMessage: () => {
        replanned ??= s.replan({ ...PLANNING, strategy: "lip" });
      },
      onError: () => undefined,
    });
    const b = await burst(s, ["p1"], () => IMAGES[0]!);
    try {
      await b.send();
      exactlyOne(b.outcomes);
      const outcome = b.outcomes.get("p1")![0]!;
      if (outcome.kind === "error") expect(outcome.code, outcome.message).toBe("plan-changed");
      await replanned;
      const next = await burst(s, ["p2"], () => IMAGES[1]!);
      try {
        await next.send();
        expect(next.outcomes.get("p2")![0]!.kind).toBe("result");
      } finally {
        await next.close();
      }
    } finally {
      await b.close();
      await watcher.close({ force: true });
      await s.stop();
    }
  });
});

describe("a camera faster than the deployment", () => {
  it("at 20 frames/s with drop-oldest: every frame answered once, the stale ones dropped, the rest detected", async () => {
    const s = await system({ inFlight: 2, queue: 2, overflow: "drop-oldest" });
    const bus = await connectBus(s.brokerUrl, { clientId: "camera" });
    try {
      const report = await runStream(bus, topicsFor(s.deployment), {
        fps: 20,
        count: 30,
        images: IMAGES,
        timeoutMs: 60_000,
      });
      expect([report.unanswered, report.duplicates]).toEqual([0, 0]);
      expect(report.results + (report.errors.dropped ?? 0)).toBe(30);
      expect(Object.keys(report.errors).filter((code) => code !== "dropped")).toEqual([]);
      expect(report.errors.dropped).toBeGreaterThan(0);
      expect(report.results).toBeGreaterThan(0);
      expect(report.latencyMs.p50).toBeLessThanOrEqual(report.latencyMs.p99!);
    } finally {
      await bus.close({ force: true });
      await s.stop();
    }
  });
});

describe("a worker killed while three jobs are in flight", () => {
  let s: LocalSystem;
  beforeAll(async () => {
    s = await startTinySystem({
      devices: 3,
      workers: "process",
      jobTimeoutMs: 10_000,
      planning: PLANNING,
      admission: { inFlight: 3, queue: 8 },
    });
    await s.source.ready(120_000);
  });
  afterAll(async () => s?.stop());

  it("fails those jobs with clear errors, and the next request succeeds on the devices left", async () => {
    const topics = topicsFor(s.deployment);
    const victim = s.workers[1]!;
    const killer = await connectBus(s.brokerUrl, { clientId: "killer" });
    let killed = false;
    // The moment the third job's first input goes out, all three are in flight.
    await killer.subscribe(topics.filters.partIn({ jobId: "k2" }), {
      onMessage: () => {
        if (!killed) {
          killed = true;
          void victim.kill();
        }
      },
      onError: () => undefined,
    });
    const ids = ["k0", "k1", "k2"];
    const b = await burst(s, ids, (i) => IMAGES[i]!);
    try {
      await b.send();
      expect(killed).toBe(true);
      exactlyOne(b.outcomes);
      const errors = [...b.outcomes.values()].map((l) => l[0]!).filter((o) => o.kind === "error");
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors)
        expect(e.message).toMatch(new RegExp(`device ${victim.id} left while job k\\d was running`));
      const next = await burst(s, ["k3"], () => IMAGES[0]!);
      try {
        await next.send();
        expect(next.outcomes.get("k3")![0]!.kind).toBe("result");
      } finally {
        await next.close();
      }
    } finally {
      await b.close();
      await killer.close({ force: true });
    }
  });
});

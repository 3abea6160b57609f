/** What the page makes of what it hears: rates from the broker's counters, a request's stages as they come, its timeline, chunks. */
import { describe, expect, it } from "vitest";
import { splitIntoChunks } from "../../broker/chunking.js";
import { PageReassembler } from "./chunks.js";
import { timeline } from "./derive.js";
import { ViewState } from "./state.js";
import type { StageTrace } from "./wire.js";

const stage = (wallMs: number, devices: [string, number][]): StageTrace => ({
  layers: [1, 1],
  scheme: "LOP",
  wallMs,
  devices: devices.map(([workerId, computeMs]) => ({ workerId, computeMs, bytesSent: 0, bytesReceived: 0 })),
});

describe("the page's state", () => {
  it("turns two counters a second apart into bytes per second per client", () => {
    const s = new ViewState(5);
    s.onStats({ timestamp: "2026-01-01T00:00:00.000Z", clients: { a: { bytesIn: 100, bytesOut: 0 } } });
    expect(s.traffic).toEqual([]);
    s.onStats({
      timestamp: "2026-01-01T00:00:00.500Z",
      clients: { a: { bytesIn: 600, bytesOut: 500 }, b: { bytesIn: 10, bytesOut: 0 } },
    });
    expect(s.traffic.map((p) => p.rates)).toEqual([{ a: 2000, b: 20 }]);
  });

  it("on a broker without counters, turns the bytes the devices' traces report into bytes per second per device", () => {
    const s = new ViewState(5);
    const moved = (workerId: string, bytesSent: number, bytesReceived: number) => ({
      workerId,
      computeMs: 1,
      bytesSent,
      bytesReceived,
    });
    const traced = (requestId: string, index: number, devices: ReturnType<typeof moved>[]) => ({
      requestId,
      index,
      stage: { layers: [index, index] as [number, number], scheme: "LOP", wallMs: 5, devices },
    });
    s.onTrace(traced("r1", 0, [moved("w1", 300, 700), moved("w2", 100, 0)]), 10_000);
    s.onTrace(traced("r1", 1, [moved("w1", 1000, 0)]), 10_200);
    s.tick(10_500);
    expect(s.trafficSource).toBe("traces");
    expect(s.traffic.map((p) => p.rates)).toEqual([{ w1: 4000, w2: 200 }]); // 2000 and 100 bytes in 0.5 s
    s.tick(11_500); // nothing reported since: no point
    expect(s.traffic).toHaveLength(1);

    // Counters from the broker take over.
    s.onStats({ timestamp: new Date(12_000).toISOString(), clients: { w1: { bytesIn: 0, bytesOut: 0 } } });
    s.onTrace(traced("r2", 0, [moved("w1", 5, 5)]), 12_100);
    s.tick(12_500);
    expect(s.trafficSource).toBe("broker");
    expect(s.traffic).toHaveLength(1);
  });

  it("keeps each listed request's own annotated image, and lets go of the ones no request holds", () => {
    const released: string[] = [];
    const s = new ViewState(2, (url) => released.push(url));
    const result = (requestId: string) => ({ requestId, timings: { totalMs: 1 }, detections: [] }) as never;
    for (const id of ["r1", "r2"]) s.onResult(result(id));
    expect(s.attachImage("r1", "blob:1")).toBe(true);
    expect(s.attachImage("r1", "blob:1b")).toBe(true); // a newer one for the same request
    expect(s.attachImage("gone", "blob:x")).toBe(false);
    expect(s.requests.get("r1")?.imageUrl).toBe("blob:1b");
    s.onResult(result("r3")); // r1 is the oldest of three: it goes, and its image with it
    expect([...s.requests.keys()]).toEqual(["r2", "r3"]);
    expect(released).toEqual(["blob:1", "blob:x", "blob:1b"]);
  });

  it("grows a request's stages from its traces, keeps the result's, marks devices busy, and lists the last N", () => {
    const s = new ViewState(2);
    s.onPresence("w1", { workerId: "w1", readyPlanId: "p" });
    s.onTrace({ requestId: "r1", index: 0, stage: stage(10, [["w1", 4]]), preprocessMs: 5 }, Date.now());
    expect(s.devices()[0]!.state).toBe("busy");
    expect(s.requests.get("r1")).toMatchObject({ state: "running", preprocessMs: 5 });
    s.onResult({ requestId: "r1", planId: "p", timestamp: "", detections: [], timings: { totalMs: 30 }, trace: [] });
    s.onError({ requestId: "r1", code: "late", message: "after its result" });
    expect(s.requests.get("r1")!.state).toBe("done");
    s.onError({ requestId: "r2", code: "timeout", message: "x" });
    s.onTrace({ requestId: "r3", index: 0, stage: stage(1, []) });
    expect(s.requestList().map((r) => [r.id, r.state])).toEqual([
      ["r3", "running"],
      ["r2", "failed"],
    ]);
  });
});

describe("a request's timeline", () => {
  it("lays the stages end to end after preprocessing: compute, then waiting for the link; a source stage is compute on the source", () => {
    const bars = timeline(
      [
        stage(10, [
          ["w1", 4],
          ["w2", 10],
        ]),
        stage(3, []),
      ],
      5,
    );
    expect(bars.map((b) => [b.device, b.kind, b.start, b.end])).toEqual([
      ["w1", "compute", 5, 9],
      ["w1", "waiting", 9, 15],
      ["w2", "compute", 5, 15],
      ["source", "compute", 15, 18],
    ]);
  });
});

describe("the page's chunk reassembler", () => {
  it("rebuilds a message sent in chunks, in any order", () => {
    const message = Buffer.from(JSON.stringify({ plan: "x".repeat(1000) }));
    const chunks = splitIntoChunks(message, { chunkBytes: 300 });
    const r = new PageReassembler();
    const [first, ...rest] = chunks;
    for (const c of rest.reverse()) expect(r.add("t", c)).toBeNull();
    expect(Buffer.from(r.add("t", first!)!).equals(message)).toBe(true);
  });
});

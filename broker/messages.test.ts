import { describe, expect, it } from "vitest";
import { z } from "zod";
import { WireError } from "../core/errors.js";
import {
  anyResultSchema,
  decodeJson,
  decodePresence,
  encodeJson,
  errorMessageSchema,
  latestSchema,
  presenceSchema,
  resultSchema,
  STATUS,
  statusSchema,
  type Presence,
} from "./messages.js";

const topic = "edgefuse/v1/lab/results/r1";
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const presence: Presence = {
  workerId: "w1",
  memoryBudgetBytes: 64_000_000,
  gmacPerSec: 48.5,
  startedAt: "2025-01-01T12:00:00.000Z",
  version: "0.1.0",
  role: "worker",
};
const result = {
  requestId: "r1",
  planId: "0123456789abcdef",
  timestamp: "2025-01-01T12:00:01.250Z",
  image: { width: 768, height: 576 },
  detections: [{ label: "dog", score: 0.9 }],
  timings: { totalMs: 812.5 },
  trace: [
    {
      layers: [0, 11] as [number, number],
      scheme: "FTP",
      wallMs: 400,
      devices: [{ workerId: "w1", computeMs: 300, bytesSent: 1_000, bytesReceived: 2_000 }],
    },
  ],
};

function wireError(run: () => unknown): WireError {
  try {
    run();
  } catch (err) {
    if (err instanceof WireError) return err;
    throw err;
  }
  throw new Error("expected a WireError");
}

describe("JSON messages", () => {
  it("round-trips presence, results and errors", () => {
    expect(decodeJson(topic, encodeJson(presenceSchema, presence), presenceSchema)).toEqual(presence);
    expect(decodeJson(topic, encodeJson(anyResultSchema, result), anyResultSchema)).toEqual(result);
    const error = {
      requestId: "r1",
      code: "shape",
      message: "layer 3: expected 12, got 13",
      where: "worker w1: job j1 layer 3",
    };
    expect(decodeJson(topic, json(error), errorMessageSchema)).toEqual(error);
  });

  it("takes a detection schema from whoever decodes detections", () => {
    const detection = z.object({ label: z.string(), score: z.number().min(0).max(1) });
    const schema = resultSchema(detection);
    expect(decodeJson(topic, json(result), schema).detections[0]!.label).toBe("dog");
    const err = wireError(() =>
      decodeJson(topic, json({ ...result, detections: [{ label: "dog", score: 7 }] }), schema),
    );
    expect(err.message).toMatch(/^edgefuse\/v1\/lab\/results\/r1: field detections\[0\]\.score: Too big/);
  });

  it("names the topic and the failing field", () => {
    const err = wireError(() => decodeJson(topic, json({ ...result, timings: { totalMs: "fast" } }), anyResultSchema));
    expect(err.topic).toBe(topic);
    expect(err.problem).toMatch(/^field timings\.totalMs: .*expected number, received string/);
    const nested = wireError(() =>
      decodeJson(
        topic,
        json({ ...result, trace: [{ ...result.trace[0], devices: [{ workerId: "a/b" }] }] }),
        anyResultSchema,
      ),
    );
    expect(nested.problem).toMatch(/^field trace\[0\]\.devices\[0\]\.workerId: expected 1-64 of .* \(and 3 more\)$/);
    expect(wireError(() => decodeJson(topic, json([1]), presenceSchema)).problem).toMatch(/^field \(root\): /);
  });

  it("refuses what is not JSON or not text", () => {
    expect(wireError(() => decodeJson(topic, Buffer.from("{oops"), presenceSchema)).problem).toMatch(
      /^payload is not JSON: /,
    );
    expect(wireError(() => decodeJson(topic, Buffer.from([0xff, 0xfe, 0x00]), presenceSchema)).problem).toBe(
      "payload is not UTF-8 text (3 bytes)",
    );
  });

  it("says which plan, when and for what image size a result was made", () => {
    for (const [field, value, problem] of [
      ["planId", "plan-1", /^field planId: expected 16 lowercase hex digits$/],
      ["timestamp", "2025-01-01 12:00", /^field timestamp: /],
      ["timestamp", "2025-01-01T13:00:01+01:00", /^field timestamp: /], // UTC only
      ["image", { width: 0, height: 576 }, /^field image\.width: /],
      ["image", undefined, /^field image: /],
    ] as const) {
      expect(wireError(() => decodeJson(topic, json({ ...result, [field]: value }), anyResultSchema)).problem).toMatch(
        problem,
      );
    }
  });

  it("summarises the latest result and keeps the status to Home Assistant's two payloads", () => {
    const latest = { ...result, count: 1, classes: { dog: 1 } } as Record<string, unknown>;
    delete latest.timings;
    delete latest.trace;
    expect(decodeJson(topic, json(latest), latestSchema(z.unknown()))).toEqual(latest);
    expect(
      wireError(() => decodeJson(topic, json({ ...latest, classes: { dog: 0 } }), latestSchema(z.unknown()))).problem,
    ).toMatch(/^field classes\.dog: /);
    expect(statusSchema.options).toEqual([STATUS.online, STATUS.offline]);
    expect(statusSchema.safeParse("Online").success).toBe(false);
  });

  it("keeps unknown fields out but lets newer senders add them", () => {
    expect(decodeJson(topic, json({ ...presence, gpu: "none" }), presenceSchema)).toEqual(presence);
  });

  it("reads an empty presence payload as a worker gone", () => {
    expect(decodePresence(topic, Buffer.alloc(0))).toBeNull();
    expect(decodePresence(topic, json(presence))).toEqual(presence);
    expect(() => decodePresence(topic, json({ ...presence, startedAt: "yesterday" }))).toThrow(/field startedAt/);
  });

  it("refuses to send an invalid message", () => {
    expect(() => encodeJson(presenceSchema, { ...presence, memoryBudgetBytes: -1 })).toThrow(
      /^outgoing message: field memoryBudgetBytes: /,
    );
  });
});

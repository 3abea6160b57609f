import { connect, type AddressInfo, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { measureNetProbe, serveNetProbe } from "./net-probe.js";

describe("edgefuse net-probe", () => {
  let server: Server;
  let port: number;
  const logged: string[] = [];

  beforeAll(async () => {
    server = await serveNetProbe(0, "127.0.0.1", (line) => logged.push(line));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("measures both directions over one connection each, counting only after the warm-up", async () => {
    const report = await measureNetProbe("127.0.0.1", port, { warmupMs: 100, durationMs: 300 });
    expect(report).toMatchObject({ host: "127.0.0.1", port });
    for (const rate of [report.upload, report.download]) {
      expect(rate.bytes).toBeGreaterThan(0);
      // The window closes on the first drained read after durationMs, or at the first read past
      // 1.5 × durationMs (0.45 s); the rest of the bound is room for a busy machine's event loop.
      expect(rate.seconds).toBeGreaterThanOrEqual(0.3);
      expect(rate.seconds).toBeLessThan(1);
      expect(rate.mbit).toBeCloseTo((rate.bytes * 8) / rate.seconds / 1e6, 6);
    }
  });

  it("drops a connection whose request is not a probe request, and keeps serving", async () => {
    const closed = await new Promise<string>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => socket.write('{"direction":"sideways"}\n'));
      socket.on("error", () => {});
      socket.on("close", () => resolve("closed"));
    });
    expect(closed).toBe("closed");
    expect(logged.join("\n")).toMatch(/bad request/);
    expect(
      (await measureNetProbe("127.0.0.1", port, { warmupMs: 50, durationMs: 150 })).download.bytes,
    ).toBeGreaterThan(0);
  });

  it("says which end it could not reach", async () => {
    await expect(measureNetProbe("127.0.0.1", 1, { warmupMs: 50, durationMs: 150 })).rejects.toThrow(
      /net-probe upload 127\.0\.0\.1:1: connect ECONNREFUSED/,
    );
  });
});

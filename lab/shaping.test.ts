import { describe, expect, it } from "vitest";
import { LabError } from "../core/errors.js";
import { burstBytes, gsoMaxBytes, parseRate, tbfArgv } from "./shaping.js";

describe("shaping", () => {
  it("sizes the tbf bucket as measured on these kernels: 64 KiB floor, ~128 kb at 100 mbit, ~1 mb at 1 gbit", () => {
    expect(burstBytes(10)).toBe(65536);
    expect(burstBytes(100)).toBe(125_000);
    expect(burstBytes(1000)).toBe(1_250_000);
  });

  it("keeps packets small on slow links and at the 64 KiB default on fast ones", () => {
    expect(gsoMaxBytes(1)).toBe(4096);
    expect(gsoMaxBytes(10)).toBe(4096);
    expect(gsoMaxBytes(100)).toBe(25_000);
    expect(gsoMaxBytes(1000)).toBe(65536);
  });

  it("builds the tc command for one direction", () => {
    expect(tbfArgv("ns1", "eth0", 2.5, "replace")).toEqual([
      "tc",
      "-n",
      "ns1",
      "qdisc",
      "replace",
      "dev",
      "eth0",
      "root",
      "tbf",
      "rate",
      "2500kbit",
      "burst",
      "65536",
      "latency",
      "50ms",
    ]);
  });

  it("reads rates in tc's units", () => {
    expect(parseRate("100mbit")).toBe(100);
    expect(parseRate("1gbit")).toBe(1000);
    expect(parseRate("512kbit")).toBeCloseTo(0.512);
    expect(() => parseRate("100")).toThrow(LabError);
    expect(() => parseRate("100mbps")).toThrow(/expected e.g. 10mbit/);
  });
});

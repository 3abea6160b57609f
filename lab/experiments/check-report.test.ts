import { describe, expect, it } from "vitest";
import { timedRun as run } from "./test-records.js";
import { toCsv } from "../tables.js";
import { checkReport, checkSettings, predictedVsMeasured, runtimeVsDevices, settingTable } from "./check-report.js";

describe("the planner check's verdicts", () => {
  // 3 devices, 100 Mbit: the default is 4 % slower than fuse-all (within 1.05), ILP-C's prediction is 25 % low.
  const good = [
    run({ scheme: "default", latencyMs: 1040, predictedMs: 1000 }),
    run({ scheme: "default", latencyMs: 1100, predictedMs: 1000, repeat: 2 }),
    run({ scheme: "default", latencyMs: 1000, predictedMs: 1000, repeat: 3 }),
    run({ scheme: "fuse-all", latencyMs: 1000, predictedMs: 1150 }),
    run({ scheme: "ILP-C", latencyMs: 2000, predictedMs: 1500 }),
  ];
  // 6 devices, 10 Mbit: the default takes 1.2× all-LOP's time; its prediction is right.
  const bad = [
    run({ devices: 6, bandwidthMbit: 10, scheme: "default", latencyMs: 6000, predictedMs: 6500 }),
    run({ devices: 6, bandwidthMbit: 10, scheme: "all-LOP", latencyMs: 5000, predictedMs: null }),
  ];
  const [ok, slow] = checkSettings([...good, ...bad]);

  it("takes the median of the repeats and sets the default beside the fastest alternative", () => {
    expect(ok!.plans.map((p) => p.scheme)).toEqual(["default", "fuse-all", "ILP-C"]);
    expect(ok!.plans[0]!).toMatchObject({ runs: 3, measuredMs: 1040, predictedMs: 1000 });
    expect(ok!.fastestAlternative).toBe("fuse-all");
    expect(ok!.defaultRatio).toBeCloseTo(1.04, 10);
    expect(ok!.ratioOk).toBe(true);
    expect(slow!.fastestAlternative).toBe("all-LOP");
    expect(slow!.defaultRatio).toBeCloseTo(1.2, 10);
    expect(slow!.ratioOk).toBe(false);
  });

  it("flags a prediction more than 20 % off its measurement, and only that one", () => {
    const error = new Map(ok!.plans.map((p) => [p.scheme, p]));
    expect(error.get("default")!.error).toBeCloseTo(40 / 1040, 10);
    expect(error.get("fuse-all")!).toMatchObject({ errorOk: true });
    expect(error.get("fuse-all")!.error).toBeCloseTo(0.15, 10);
    expect(error.get("ILP-C")!).toMatchObject({ errorOk: false });
    expect(error.get("ILP-C")!.error).toBeCloseTo(0.25, 10);
    // No prediction: nothing to hold against the limit.
    expect(slow!.plans[1]!).toMatchObject({ scheme: "all-LOP", error: null, errorOk: null });
  });

  it("marks the misses in the tables: ILP-C's error in the first setting, the default's ratio in the second", () => {
    const first = settingTable(ok!);
    const rows = (table: string) =>
      new Map(
        table
          .split("\n")
          .filter((l) => l.startsWith("| ") && !l.startsWith("| plan"))
          .map((l) => [l.split(" | ")[0]!.slice(2), l]),
      );
    const firstRows = rows(first);
    expect(firstRows.get("ILP-C")).toContain("25.0 % **✗**");
    expect(firstRows.get("fuse-all")).not.toContain("✗");
    expect(firstRows.get("default")).toMatch(/\| 1\.04 \|$/);
    expect(first).toContain("Default ÷ fastest alternative (fuse-all): 1.04 (limit 1.05).");
    const second = settingTable(slow!);
    expect(rows(second).get("default")).toMatch(/\| 1\.20 \*\*✗\*\* \|$/);
    expect(second).toContain("### 6 devices, 10 Mbit, identical (paper topology)");
    expect(second).toContain("1.20 (limit 1.05) **✗**");
    const report = checkReport([...good, ...bad], ["FTP 12 at 3 devices: cannot tile"]);
    expect(report).toContain("settings: 2; the default slower than allowed in 1");
    expect(report).toContain("plans: 5, 4 with a prediction; off by more than 20 % in 1");
    expect(report).toContain("  - FTP 12 at 3 devices: cannot tile");
  });

  it("writes the topology, per-device settings and prediction in every CSV row", () => {
    const [head, first] = toCsv(good).split("\n");
    const cells = Object.fromEntries(head!.split(",").map((c, i) => [c, first!.split(",")[i]]));
    expect(cells).toMatchObject({
      topology: "paper",
      profile: "identical",
      deviceBandwidthMbit: "100;100;100",
      deviceCpuShare: "0.25;0.25;0.25",
      latencyMs: "1040",
      predictedMs: "1000",
      objective: "",
    });
  });

  it("plots one point per run with a prediction, and the default's run time per device count", () => {
    const scatter = predictedVsMeasured([...good, ...bad]);
    expect(scatter.match(/<circle /g)).toHaveLength(6);
    expect(scatter).toContain('<g class="identity"');
    expect([...scatter.matchAll(/data-name="([^"]+)"/g)].map((m) => m[1])).toEqual(["10 Mbit", "100 Mbit"]);
    const byDevices = runtimeVsDevices([...good, ...bad]);
    // The default only: the median of three runs at 3 devices (100 Mbit) and one at 6 (10 Mbit).
    expect(byDevices).toContain("100 Mbit: 3, 1");
    expect(byDevices).toContain("10 Mbit: 6, 6");
  });
});

import { describe, expect, it } from "vitest";
import { modelCfg } from "../../core/paths.js";
import { loadNetwork } from "../../dnn/network.js";
import { maxFtpEnd } from "../../planner/ftp.js";
import { PAPER_YOLOV2 } from "../../planner/strategies.js";
import { estimateGrid, networkSize } from "./estimate.js";
import {
  CHECK_BANDWIDTHS_MBIT,
  CHECK_DEVICE_COUNTS,
  DEFAULT_PLAN,
  deviceSettings,
  plannerCheckGrid,
  PROFILES,
} from "./planner-check.js";

const yolo = { paperPlan: true, maxFtpEnd: maxFtpEnd(loadNetwork(modelCfg("yolov2"))) };
const tiny = { paperPlan: false, maxFtpEnd: maxFtpEnd(loadNetwork(modelCfg("yolov2-tiny"))) };

describe("the planner check grid", () => {
  const grid = plannerCheckGrid(yolo);

  it("covers 3 bandwidths × 2 device counts × 2 profiles, each setting once", () => {
    expect(grid).toHaveLength(12);
    const keys = grid.map((s) => `${s.bandwidthMbit}|${s.devices}|${s.profile}`);
    expect(new Set(keys).size).toBe(12);
    for (const mbit of CHECK_BANDWIDTHS_MBIT)
      for (const devices of CHECK_DEVICE_COUNTS)
        for (const profile of PROFILES) expect(keys).toContain(`${mbit}|${devices}|${profile}`);
  });

  it("runs the default and every fixed alternative in each setting, and the even split where devices differ", () => {
    const identical = ["default", "all-LOP", "ILP-C", "fuse-all", "paper", "FTP 0", "FTP 3", "FTP 12", "auto-comm"];
    for (const s of grid) {
      const labels = s.schemes.map((v) => v.label);
      expect(labels).toEqual(s.profile === "heterogeneous" ? [...identical, "default (even split)"] : identical);
    }
    const byLabel = new Map(grid.find((s) => s.profile === "heterogeneous")!.schemes.map((v) => [v.label, v.planning]));
    expect(byLabel.get("default")).toEqual({ strategy: "auto", ftpEnd: "auto", objective: "latency" });
    expect(byLabel.get("all-LOP")).toMatchObject({ strategy: "lop", ftpEnd: "auto" });
    expect(byLabel.get("fuse-all")).toMatchObject({ strategy: "fuse-all", ftpEnd: "auto" });
    expect(byLabel.get("ILP-C")).toEqual({ strategy: "auto", ftpEnd: "auto", objective: "comm" });
    expect(byLabel.get("paper")).toEqual({ strategy: "paper", ftpEnd: PAPER_YOLOV2.ftpEnd, objective: "comm" });
    for (const b of [0, 3, 12]) expect(byLabel.get(`FTP ${b}`)).toMatchObject({ strategy: "auto", ftpEnd: b });
    expect(byLabel.get("auto-comm")).toEqual({ strategy: "auto", ftpEnd: "auto-comm", objective: "comm" });
    expect(byLabel.get("default (even split)")).toEqual({ ...DEFAULT_PLAN.planning, split: "even" });
  });

  it("leaves the authors' plan out for another network, and FTP depths past what it can tile", () => {
    const small = plannerCheckGrid(tiny);
    expect(small).toHaveLength(12);
    for (const s of small) expect(s.schemes.map((v) => v.label)).not.toContain("paper");
    const shallow = plannerCheckGrid({ paperPlan: false, maxFtpEnd: 5 });
    const labels = shallow[0]!.schemes.map((v) => v.label);
    expect(labels).toContain("FTP 3");
    expect(labels).not.toContain("FTP 12");
  });
});

describe("deviceSettings", () => {
  it("gives every device the same rate and share when identical", () => {
    expect(deviceSettings("identical", 3, 100, 0.25)).toEqual({
      bandwidthMbit: [100, 100, 100],
      cpuShare: [0.25, 0.25, 0.25],
    });
  });

  it("halves the last worker's share and cuts the one before it to a tenth of the bandwidth, the source untouched", () => {
    expect(deviceSettings("heterogeneous", 6, 10, 0.25)).toEqual({
      bandwidthMbit: [10, 10, 10, 10, 1, 10],
      cpuShare: [0.25, 0.25, 0.25, 0.25, 0.25, 0.125],
    });
    expect(deviceSettings("heterogeneous", 3, 1000, 0.25)).toEqual({
      bandwidthMbit: [1000, 100, 1000],
      cpuShare: [0.25, 0.25, 0.125],
    });
    expect(() => deviceSettings("heterogeneous", 2, 100, 0.25)).toThrow(/at least 3 devices/);
  });
});

describe("estimateGrid", () => {
  it("counts the plans and timed runs, and the slow heterogeneous links make those settings the longest", () => {
    const grid = plannerCheckGrid(tiny);
    const size = networkSize(loadNetwork(modelCfg("yolov2-tiny")));
    const all = estimateGrid(grid, size, { repeats: 3, cpuShare: 0.25 });
    const plans = grid.reduce((n, s) => n + s.schemes.length, 0);
    expect(all).toMatchObject({ settings: 12, plans, timedRuns: plans * 3 });
    const one = (profile: string) =>
      estimateGrid(
        grid.filter((s) => s.devices === 3 && s.bandwidthMbit === 10 && s.profile === profile),
        size,
        { repeats: 3, cpuShare: 0.25 },
      ).seconds;
    expect(one("heterogeneous")).toBeGreaterThan(one("identical"));
    // More repeats take longer.
    expect(estimateGrid(grid, size, { repeats: 5, cpuShare: 0.25 }).seconds).toBeGreaterThan(all.seconds);
  });
});

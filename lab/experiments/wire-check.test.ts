import { describe, expect, it } from "vitest";
import { timedRun } from "./test-records.js";
import { latencyVsBusiestLink, wireCheckGrid, wireReport } from "./wire-check.js";

describe("the wire check", () => {
  it("runs two plans as every wire choice at 100 Mbit, 1 Gbit and 10 Mbit, the least-C plan at the paper's FTP depth", () => {
    const grid = wireCheckGrid(31);
    expect(grid.map((s) => [s.devices, s.bandwidthMbit])).toEqual([
      [6, 100],
      [6, 1000],
      [6, 10],
    ]);
    const setting = grid[0];
    expect(setting!.schemes.map((s) => s.label)).toEqual([
      "ILP-C FTP 12@auto",
      "ILP-C FTP 12@f32",
      "ILP-C FTP 12@f16",
      "ILP-C FTP 12@q8",
      "default@auto",
      "default@f32",
      "default@f16",
      "default@q8",
    ]);
    expect(setting!.schemes[2]!.planning).toEqual({ strategy: "auto", ftpEnd: 12, objective: "comm", wire: "f16" });
    // A network too shallow for the paper's depth gets its deepest FTP instead.
    expect(wireCheckGrid(5)[0]!.schemes[0]!.label).toBe("ILP-C FTP 5@auto");
  });

  const runs = [
    ...[4000, 4200, 4100].map((latencyMs, i) =>
      timedRun(
        { scheme: "ILP-C FTP 12@f32", latencyMs, predictedMs: 4000, repeat: i + 1, devices: 6 },
        { wire: "f32", bytesBusiestLink: 40e6, ftpInputBytes: 5.6e6, ftpPublishedBytes: 5.6e6 },
      ),
    ),
    timedRun(
      { scheme: "ILP-C FTP 12@f16", latencyMs: 2500, predictedMs: 2400, devices: 6 },
      { wire: "f16", bytesBusiestLink: 20e6, ftpInputBytes: 0.8e6, ftpPublishedBytes: 0.2e6 },
    ),
  ];

  it("sets every wire beside float32: medians, and how many times fewer bytes", () => {
    const md = wireReport(runs);
    expect(md).toContain("### ILP-C FTP 12, 100 Mbit");
    expect(md).toContain("| f32 | 3 | 4.10 | 4.00 | 40.00 | 1.00 × | 5.60 | 1.00 × | 5.60 | 1.00 × | 0 |");
    // The image to four tile devices: each takes its copy (0.8 MB in all), the source publishes it once.
    expect(md).toContain("| f16 | 1 | 2.50 | 2.40 | 20.00 | 2.00 × | 0.80 | 7.00 × | 0.20 | 28.00 × | 0 |");
  });

  it("plots one point per run, a series per wire", () => {
    const svg = latencyVsBusiestLink(runs);
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain(">f32<");
    expect(svg).toContain(">f16<");
    expect(svg).not.toContain(">q8<");
  });
});

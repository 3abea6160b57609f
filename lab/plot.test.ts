import { describe, expect, it } from "vitest";
import { lineChart, ticks } from "./plot.js";

describe("lineChart", () => {
  const svg = lineChart({
    title: "Run time <vs> devices",
    xLabel: "devices",
    yLabel: "s",
    series: [
      {
        name: "LOP",
        points: [
          [6, 11.6],
          [1, 8],
          [3, 9],
        ],
      },
      {
        name: "optimum",
        points: [
          [1, 8],
          [3, 8.5],
          [6, 10.1],
        ],
        labels: ["a", "b", "c"],
      },
    ],
  });

  it("is one well-formed svg document with escaped text", () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("Run time &lt;vs&gt; devices");
    // Every opened group, polyline and text is closed.
    for (const tag of ["g", "text", "circle"])
      expect(svg.split(`<${tag} `).length - 1).toBe(svg.split(`</${tag}>`).length - 1);
  });

  it("draws each series as a line through its points in x order, with a marker per point", () => {
    const groups = [...svg.matchAll(/<g class="series" data-name="([^"]+)">([\s\S]*?)<\/g>/g)];
    expect(groups.map((g) => g[1])).toEqual(["LOP", "optimum"]);
    for (const g of groups) {
      expect(g[2]!.match(/<circle /g)).toHaveLength(3);
      const xs = /points="([^"]+)"/
        .exec(g[2]!)![1]!
        .split(" ")
        .map((p) => Number(p.split(",")[0]));
      expect(xs).toEqual([...xs].sort((a, b) => a - b));
    }
    expect(groups[0]![2]).toContain("LOP: 6, 11.6");
    expect(groups[1]![2]).toContain(">c</text>");
  });

  it("puts log-scale ticks on decades", () => {
    const log = lineChart({
      title: "t",
      xLabel: "mbit",
      yLabel: "s",
      logX: true,
      series: [
        {
          name: "s",
          points: [
            [10, 1],
            [100, 2],
            [1000, 3],
          ],
        },
      ],
    });
    for (const t of ["10", "100", "1000"]) expect(log).toContain(`>${t}</text>`);
  });

  it("picks round ticks", () => {
    expect(ticks(0, 12)).toEqual([0, 2, 4, 6, 8, 10, 12]);
    expect(ticks(0, 0.9)).toEqual([0, 0.2, 0.4, 0.6, 0.8]);
  });
});

describe("an identity chart", () => {
  const svg = lineChart({
    title: "predicted vs measured",
    xLabel: "measured, s",
    yLabel: "predicted, s",
    logX: true,
    logY: true,
    identity: { band: 0.2 },
    series: [
      {
        name: "plans",
        scatter: true,
        points: [
          [2, 2.2],
          [20, 12],
        ],
      },
    ],
  });

  const circle = (i: number): [number, number] => {
    const m = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)][i]!;
    return [Number(m[1]), Number(m[2])];
  };

  it("puts both axes on one range, so a point where prediction equals measurement lies on the dashed diagonal", () => {
    const line = /<line x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)" stroke="#666"/.exec(svg)!;
    const [x1, y1, x2, y2] = line.slice(1).map(Number) as [number, number, number, number];
    // The diagonal runs from the bottom-left to the top-right corner of the plot area: one decade is as long on both axes.
    expect(x2 - x1).toBeCloseTo(((y1 - y2) * (640 - 70 - 170)) / (400 - 40 - 55), 0);
    // Decade ticks on both axes: 1 and 100 cover 2 and 20.
    for (const t of ["1", "10", "100"]) expect(svg.split(`>${t}</text>`).length - 1).toBe(2);
  });

  it("draws the ±band polygon behind the points, and a point 40 % under its measurement falls outside it", () => {
    expect(svg.indexOf('<g class="identity"')).toBeLessThan(svg.indexOf('<g class="series"'));
    expect(svg).toContain("±20 %");
    const [x20, y20] = circle(1);
    // At x = 20 s the band's lower edge is at 16 s; the point (12 s) is below it, i.e. further down the picture.
    const polygon = /<polygon points="([^"]+)"/
      .exec(svg)![1]!
      .split(" ")
      .map((p) => p.split(",").map(Number));
    const lower = polygon.slice(polygon.length / 2);
    const nearest = lower.reduce((best, p) => (Math.abs(p[0]! - x20) < Math.abs(best[0]! - x20) ? p : best));
    expect(y20).toBeGreaterThan(nearest[1]!);
  });
});

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

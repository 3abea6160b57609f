/**
 * The page's two charts, drawn by Chart.js (its UMD bundle, loaded by index.html): the
 * traffic per link over the last minute, and one request's timeline, a row per device
 * with a bar per stage, compute in green and waiting for the link in amber.
 */
import type { Chart as ChartClass, ChartConfiguration } from "chart.js";
import type { TimelineBar } from "./derive.js";
import type { TrafficPoint } from "./state.js";

declare const Chart: typeof ChartClass;

const COLORS = ["#1a56c4", "#b3261e", "#1b7f3b", "#8e44ad", "#c9a227", "#16a085", "#d35400", "#2c3e50"];
const COMPUTE = "#1b7f3b";
const WAITING = "#e0b43a";

/** "worker-worker-1" is worker-1's link; the source's connections are `source-<deployment>…`. */
const linkName = (clientId: string) => clientId.replace(/^worker-(?=worker-)/, "");

export class TrafficChart {
  private readonly chart: ChartClass<"line", number[], string>;

  constructor(canvas: HTMLCanvasElement) {
    const config: ChartConfiguration<"line", number[], string> = {
      type: "line",
      data: { labels: [], datasets: [] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        elements: { point: { radius: 0 } },
        scales: {
          y: { beginAtZero: true, suggestedMax: 1000, ticks: { callback: (v) => formatRate(Number(v)) } },
          x: { ticks: { maxTicksLimit: 6 } },
        },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      },
    };
    this.chart = new Chart(canvas, config);
  }

  update(points: readonly TrafficPoint[]): void {
    const ids = [...new Set(points.flatMap((p) => Object.keys(p.rates)))].filter((id) =>
      points.some((p) => (p.rates[id] ?? 0) > 0),
    );
    this.chart.data.labels = points.map((p) => new Date(p.at).toLocaleTimeString([], { hour12: false }));
    this.chart.data.datasets = ids.map((id, i) => ({
      label: linkName(id),
      data: points.map((p) => p.rates[id] ?? 0),
      borderColor: COLORS[i % COLORS.length]!,
      backgroundColor: COLORS[i % COLORS.length]!,
      borderWidth: 1.5,
    }));
    this.chart.update();
  }
}

type Bar = { x: [number, number]; y: string; label: string };

export class TimelineChart {
  private readonly chart: ChartClass<"bar", Bar[], string>;

  constructor(
    canvas: HTMLCanvasElement,
    private readonly box: HTMLElement,
  ) {
    const config: ChartConfiguration<"bar", Bar[], string> = {
      type: "bar",
      data: { labels: [], datasets: [] },
      options: {
        indexAxis: "y",
        animation: false,
        maintainAspectRatio: false,
        datasets: { bar: { grouped: false, barPercentage: 0.8, categoryPercentage: 0.9 } },
        scales: {
          x: { beginAtZero: true, title: { display: true, text: "ms since the request reached the source" } },
          y: { type: "category" },
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              label: (item) => {
                const bar = item.raw as Bar;
                return `${bar.label}: ${item.dataset.label} ${(bar.x[1] - bar.x[0]).toFixed(1)} ms`;
              },
            },
          },
        },
      },
    };
    this.chart = new Chart(canvas, config);
  }

  update(bars: readonly TimelineBar[]): void {
    const devices = [...new Set(bars.map((b) => b.device))].sort((a, b) =>
      a === "source" ? -1 : b === "source" ? 1 : a.localeCompare(b),
    );
    const of = (kind: TimelineBar["kind"]) =>
      bars
        .filter((b) => b.kind === kind)
        .map((b) => ({ x: [b.start, b.end] as [number, number], y: b.device, label: b.label }));
    this.box.style.height = `${Math.max(120, 60 + devices.length * 36)}px`;
    this.box.dataset.bars = String(bars.length);
    this.chart.data.labels = devices;
    this.chart.data.datasets = [
      { label: "compute", data: of("compute"), backgroundColor: COMPUTE },
      { label: "waiting for the link", data: of("waiting"), backgroundColor: WAITING },
    ];
    this.chart.update();
  }
}

export function formatRate(bytesPerSec: number): string {
  if (bytesPerSec >= 1e6) return `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;
  if (bytesPerSec >= 1e3) return `${(bytesPerSec / 1e3).toFixed(0)} kB/s`;
  return `${bytesPerSec.toFixed(0)} B/s`;
}

/**
 * Line charts as standalone SVG text, for the experiment's result pages. Hand-written
 * rather than a charting package: the charts need only axes, ticks, lines, markers and
 * a legend, and a plotting stack (canvas or browser based) would be a heavy dependency
 * for a few hundred bytes of SVG each.
 */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** Text beside each point (same order), e.g. the plan variant. */
  readonly labels?: readonly string[];
  /** Markers only, no line between them. */
  readonly scatter?: boolean;
}

export interface Chart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Bandwidths span decades. */
  readonly logX?: boolean;
  /** Latencies across bandwidths span decades too. */
  readonly logY?: boolean;
  /**
   * Predicted against measured: both axes on one range, the line y = x and the band
   * within ±`band` (a fraction) of it, behind the points.
   */
  readonly identity?: { readonly band: number };
}

const W = 640;
const H = 400;
const M = { left: 70, right: 170, top: 40, bottom: 55 };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"];

const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const fmt = (v: number): string =>
  Number.isInteger(v) || Math.abs(v) >= 100
    ? v.toFixed(0)
    : Math.abs(v) >= 10
      ? v.toFixed(1)
      : v.toPrecision(2).replace(/\.?0+$/, "");

/** About five round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

interface Axis {
  readonly lo: number;
  readonly hi: number;
  readonly log: boolean;
}

/** The range an axis covers: decades for a log axis, from 0 with headroom for a linear y. */
function axisOf(values: readonly number[], log: boolean, fromZero: boolean): Axis {
  const vs = log ? values.filter((v) => v > 0).map(Math.log10) : values;
  if (!vs.length) return { lo: 0, hi: 1, log };
  let [lo, hi] = [Math.min(...vs), Math.max(...vs)];
  if (log) [lo, hi] = [Math.floor(lo), Math.ceil(hi)];
  else if (fromZero) [lo, hi] = [0, Math.max(1e-9, hi) * 1.1];
  if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
  return { lo, hi, log };
}

const tickValues = (a: Axis): number[] =>
  a.log
    ? Array.from({ length: Math.floor(a.hi) - Math.ceil(a.lo) + 1 }, (_, i) => 10 ** (Math.ceil(a.lo) + i))
    : ticks(a.lo, a.hi);

/** The band within ±band of y = x (a polygon sampled along x, so it bends correctly on log axes) and the line itself. */
function identityGuide(band: number, x: Axis, px: (v: number) => number, py: (v: number) => number): string {
  const steps = 32;
  const xs = Array.from({ length: steps + 1 }, (_, i) => {
    const t = x.lo + ((x.hi - x.lo) * i) / steps;
    return x.log ? 10 ** t : t;
  });
  const at = (v: number, f: number): string => `${px(v).toFixed(1)},${py(v * f).toFixed(1)}`;
  const polygon = [...xs.map((v) => at(v, 1 + band)), ...[...xs].reverse().map((v) => at(v, 1 - band))].join(" ");
  const [a, b] = [xs[0]!, xs[steps]!];
  return [
    `<clipPath id="plot-area"><rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}"/></clipPath>`,
    `<g class="identity" clip-path="url(#plot-area)"><polygon points="${polygon}" fill="#999" fill-opacity="0.15" stroke="none"><title>±${Math.round(band * 100)} %</title></polygon>`,
    `<line x1="${px(a).toFixed(1)}" y1="${py(a).toFixed(1)}" x2="${px(b).toFixed(1)}" y2="${py(b).toFixed(1)}" stroke="#666" stroke-dasharray="4 3"><title>y = x</title></line></g>`,
  ].join("\n");
}

export function lineChart(chart: Chart): string {
  const pts = chart.series.flatMap((s) => s.points);
  const logX = chart.logX ?? false;
  const logY = chart.logY ?? false;
  // On an identity chart both axes show the same range, so y = x is the diagonal.
  const shared = chart.identity ? pts.flat() : undefined;
  const xAxis = axisOf(shared ?? pts.map(([x]) => x), logX, shared !== undefined);
  const yAxis = axisOf(shared ?? pts.map(([, y]) => y), logY, true);
  const scale = (a: Axis, v: number): number => ((a.log ? Math.log10(Math.max(v, 1e-300)) : v) - a.lo) / (a.hi - a.lo);
  const px = (x: number): number => M.left + scale(xAxis, x) * (W - M.left - M.right);
  const py = (y: number): number => H - M.bottom - scale(yAxis, y) * (H - M.top - M.bottom);
  const xTicks = tickValues(xAxis);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(chart.title)}</text>`,
    `<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="black"/>`,
  ];
  for (const t of xTicks)
    out.push(
      `<line x1="${px(t)}" y1="${H - M.bottom}" x2="${px(t)}" y2="${H - M.bottom + 5}" stroke="black"/><text x="${px(t)}" y="${H - M.bottom + 18}" text-anchor="middle">${fmt(t)}</text>`,
    );
  if (chart.identity) out.push(identityGuide(chart.identity.band, xAxis, px, py));
  for (const t of tickValues(yAxis)) {
    out.push(
      `<line x1="${M.left - 5}" y1="${py(t)}" x2="${W - M.right}" y2="${py(t)}" stroke="#ddd"/><text x="${M.left - 8}" y="${py(t) + 4}" text-anchor="end">${fmt(t)}</text>`,
    );
  }
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 15}" text-anchor="middle">${esc(chart.xLabel)}</text>`);
  out.push(
    `<text transform="translate(18 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(chart.yLabel)}</text>`,
  );
  chart.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const sorted = s.points.map((p, j) => ({ p, label: s.labels?.[j] }));
    if (!s.scatter) sorted.sort((a, b) => a.p[0] - b.p[0]);
    out.push(`<g class="series" data-name="${esc(s.name)}">`);
    if (!s.scatter && sorted.length > 1)
      out.push(
        `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${sorted.map(({ p }) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(" ")}"/>`,
      );
    for (const { p, label } of sorted) {
      out.push(
        `<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="4" fill="${colour}"><title>${esc(s.name)}: ${fmt(p[0])}, ${fmt(p[1])}</title></circle>`,
      );
      if (label)
        out.push(
          `<text x="${(px(p[0]) + 6).toFixed(1)}" y="${(py(p[1]) - 6).toFixed(1)}" font-size="10" fill="${colour}">${esc(label)}</text>`,
        );
    }
    out.push("</g>");
    const ly = M.top + 10 + i * 20;
    out.push(
      `<rect x="${W - M.right + 15}" y="${ly - 8}" width="12" height="12" fill="${colour}"/><text x="${W - M.right + 32}" y="${ly + 2}">${esc(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

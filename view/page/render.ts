/** The page's tables, rebuilt from the state on each frame that has something new. */
import { planRows, planTotals } from "./derive.js";
import type { RequestEntry, ViewState } from "./state.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function fillBody(table: string, rows: HTMLTableRowElement[]): void {
  $(table)
    .querySelector("tbody")!
    .replaceChildren(...rows);
}

function row(cells: HTMLTableCellElement[], attrs: Record<string, string> = {}): HTMLTableRowElement {
  const tr = document.createElement("tr");
  for (const [k, v] of Object.entries(attrs)) tr.setAttribute(k, v);
  tr.append(...cells);
  return tr;
}

export const bytes = (n: number | undefined): string =>
  n === undefined
    ? "–"
    : n >= 1e9
      ? `${(n / 1e9).toFixed(2)} GB`
      : n >= 1e6
        ? `${(n / 1e6).toFixed(1)} MB`
        : n >= 1e3
          ? `${(n / 1e3).toFixed(1)} kB`
          : `${n} B`;
const bits = (n: number | undefined) => (n === undefined ? "–" : `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} Mbit/s`);
const count = (n: number | undefined) => (n === undefined ? "–" : n.toLocaleString("en"));
const ms = (n: number) => `${n.toFixed(0)} ms`;

export function renderDevices(state: ViewState): void {
  const devices = state.devices();
  $("device-count").textContent = String(devices.filter((d) => d.state !== "gone").length);
  fillBody(
    "devices",
    devices.map((d) =>
      row(
        [
          cell(d.id),
          cell(d.role),
          cell(d.state, `state-${d.state}`),
          cell(bytes(d.budgetBytes)),
          cell(bytes(d.holdsBytes)),
          cell(d.gmacPerSec === undefined ? "–" : `${d.gmacPerSec.toFixed(1)} GMAC/s`),
          cell(`${bits(d.uplinkBitsPerSec)} / ${bits(d.downlinkBitsPerSec)}`),
        ],
        { "data-device": d.id, "data-state": d.state },
      ),
    ),
  );
}

export function renderPlan(state: ViewState): void {
  const plan = state.plan;
  $("plan-id").textContent = plan ? `${plan.id} · ${plan.model.name}` : "none yet";
  const totals = plan ? planTotals(plan) : undefined;
  const items: [string, string, string][] = totals
    ? [
        ["layers", "plan-layers", String(totals.layers)],
        ["devices", "plan-devices", String(totals.devices)],
        ["C (modelled)", "plan-comm", bytes(totals.commBytes)],
        [
          "busiest link",
          "plan-busiest",
          totals.busiestLink ? `${totals.busiestLink.link} (${totals.busiestLink.seconds.toFixed(3)} s)` : "none",
        ],
        [
          "predicted latency",
          "plan-predicted",
          totals.predictedSeconds === undefined ? "–" : ms(totals.predictedSeconds * 1000),
        ],
      ]
    : [];
  $("plan-totals").replaceChildren(
    ...items.map(([term, id, value]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = term;
      dd.textContent = value;
      dd.id = id;
      div.append(dt, dd);
      return div;
    }),
  );
  fillBody(
    "plan",
    (plan ? planRows(plan) : []).map((r) =>
      row([
        cell(r.layers),
        cell(r.scheme),
        cell(r.devices.join(", ")),
        cell(count(r.weightsPerDevice)),
        cell(bytes(r.modelledBytes)),
      ]),
    ),
  );
}

const latencyOf = (r: RequestEntry) =>
  r.result ? ms(r.result.timings.totalMs) : r.state === "failed" ? "failed" : "…";

export function renderRequests(state: ViewState, select: (id: string) => void): void {
  const list = state.requestList();
  $("request-count").textContent = String(list.length);
  fillBody(
    "requests",
    list.map((r) => {
      const tr = row(
        [
          cell(r.id),
          cell(r.state, `state-${r.state}`),
          cell(latencyOf(r), "latency"),
          cell(r.result ? String(r.result.detections.length) : r.error ? r.error.code : "…"),
          cell(String(r.stages.filter(Boolean).length)),
        ],
        { "data-request": r.id, "data-state": r.state },
      );
      if (r.id === state.selected) tr.className = "selected";
      tr.title = r.error ? `${r.error.code}: ${r.error.message}` : "";
      tr.addEventListener("click", () => select(r.id));
      return tr;
    }),
  );
}

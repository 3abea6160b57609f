/**
 * The live view's page: fetches /config.json, connects to the broker over
 * MQTT-over-WebSocket as the viewer (mqtt.js' browser bundle, loaded by index.html),
 * follows every topic a viewer reads, and redraws at most four times a second, so a
 * stream of traces never makes it fall behind.
 */
import type { MqttClient } from "mqtt";
import type { ViewConfig } from "../config.js";
import { TimelineChart, TrafficChart } from "./charts.js";
import { PageReassembler } from "./chunks.js";
import { timeline } from "./derive.js";
import { renderDevices, renderPlan, renderRequests } from "./render.js";
import { requestOfJpeg } from "./jpeg-comment.js";
import { ViewState } from "./state.js";
import {
  type ErrorMessage,
  type Plan,
  type Presence,
  parseJson,
  parseViewTopic,
  type Result,
  type Stats,
  type TraceMessage,
} from "./wire.js";

declare const mqtt: { connect(url: string, options: Record<string, unknown>): MqttClient };

const $ = (id: string) => document.getElementById(id)!;
const REDRAW_MS = 250;

function banner(up: boolean, text: string): void {
  const el = $("connection");
  el.className = `banner ${up ? "up" : "down"}`;
  el.dataset.connected = String(up);
  el.textContent = text;
}

/** The broker's address as this page reaches it: a loopback broker on the page's own host, when the page is opened from elsewhere. */
function brokerUrl(config: ViewConfig): string {
  const url = new URL(config.broker);
  if (/^(127\.|localhost$|\[::1\]$)/.test(url.hostname) && !/^(127\.|localhost$|\[::1\]$)/.test(location.hostname))
    url.hostname = location.hostname;
  return url.toString().replace(/\/$/, "");
}

async function main(): Promise<void> {
  let config: ViewConfig;
  try {
    const res = await fetch("/config.json");
    config = (await res.json()) as ViewConfig;
  } catch (err) {
    banner(false, `cannot read the view's configuration: ${String(err)}`);
    return;
  }
  $("deployment").textContent = `· ${config.deployment}`;
  const state = new ViewState(config.maxRequests, (url) => URL.revokeObjectURL(url));
  const traffic = new TrafficChart($("traffic") as HTMLCanvasElement);
  const timelineChart = new TimelineChart($("timeline") as HTMLCanvasElement, $("timeline-box"));
  let dirty = false;
  const draw = () => {
    dirty = false;
    renderDevices(state);
    renderPlan(state);
    renderRequests(state, (id) => {
      state.selected = id;
      redraw();
    });
    traffic.update(state.traffic);
    $("traffic-from").textContent =
      state.trafficSource === "broker" ? "(the broker's counters)" : "(as the devices' traces report it)";
    const chosen = state.selected === null ? undefined : state.requests.get(state.selected);
    $("timeline-of").textContent = chosen ? `of ${chosen.id}` : "pick a request";
    timelineChart.update(chosen ? timeline(chosen.stages, chosen.preprocessMs) : []);
    showPicture(chosen?.imageUrl ? { url: chosen.imageUrl, of: chosen.id } : lastAnnotated);
  };
  // At most four redraws a second, each on an animation frame: enough to watch, and a stream of
  // traces (ten requests a second are over a hundred messages) costs the browser a few frames' work.
  const redraw = () => {
    if (dirty) return;
    dirty = true;
    setTimeout(() => requestAnimationFrame(draw), REDRAW_MS);
  };
  // Busy devices turn back to ready without a message; traffic from traces makes its point.
  setInterval(() => {
    state.tick();
    redraw();
  }, 1000);
  connect(config, state, redraw);
}

function connect(config: ViewConfig, state: ViewState, redraw: () => void): void {
  const url = brokerUrl(config);
  const client = mqtt.connect(url, {
    clientId: `view-${Math.random().toString(16).slice(2, 10)}`,
    ...(config.username !== undefined && { username: config.username }),
    ...(config.password !== undefined && { password: config.password }),
    reconnectPeriod: 2000,
    connectTimeout: 5000,
  });
  const chunks = new PageReassembler();
  client.on("connect", () => {
    banner(true, `live: ${url} as ${config.username ?? "an anonymous viewer"}`);
    client.subscribe([...config.subscriptions], { qos: 1 }, (err) => {
      if (err) banner(false, `the broker at ${url} refused the subscriptions: ${err.message}`);
    });
  });
  const down = (why: string) => banner(false, `broker unreachable at ${url}: ${why}; retrying every 2 s`);
  client.on("offline", () => down("offline"));
  client.on("close", () => down("connection closed"));
  client.on("error", (err) => down(err.message));
  client.on("message", (topic, payload) => {
    const t = parseViewTopic(config, topic);
    if (!t) return;
    const whole = t.chunkIndex === null ? new Uint8Array(payload) : chunks.add(t.base, new Uint8Array(payload));
    if (whole === null) return;
    onMessage(state, t.kind, t.fields, whole);
    redraw();
  });
}

/** The JSON kinds that are one event each: the fields each must have, and what the state does with it. */
const EVENTS: Readonly<
  Record<string, { required: readonly string[]; apply: (state: ViewState, value: never) => void }>
> = {
  stats: { required: ["timestamp", "clients"], apply: (s, v: Stats) => s.onStats(v) },
  trace: { required: ["requestId", "index", "stage"], apply: (s, v: TraceMessage) => s.onTrace(v) },
  results: { required: ["requestId", "timings", "detections"], apply: (s, v: Result) => s.onResult(v) },
  errors: { required: ["requestId", "code", "message"], apply: (s, v: ErrorMessage) => s.onError(v) },
};

function onMessage(state: ViewState, kind: string, fields: Record<string, string>, payload: Uint8Array): void {
  const event = EVENTS[kind];
  if (event) {
    const value = parseJson<unknown>(payload, event.required);
    if (value !== null) event.apply(state, value as never);
    return;
  }
  switch (kind) {
    case "worker":
      state.onPresence(fields.workerId!, payload.byteLength ? parseJson<Presence>(payload, ["workerId"]) : null);
      break;
    case "plan":
      state.onPlan(payload.byteLength ? parseJson<Plan>(payload, ["id", "model", "steps", "devices"]) : null);
      break;
    case "status": {
      // The source's retained availability (its last will says offline).
      const text = new TextDecoder().decode(payload);
      $("source-status").textContent = `source: ${text === "online" || text === "offline" ? text : "unknown"}`;
      break;
    }
    case "annotated":
      onAnnotated(state, payload);
      break;
  }
}

/** The last annotated image that names no request the page lists (one published before the page opened, say). */
let lastAnnotated: { url: string; of?: string } | undefined;

/** An annotated image: its request's picture (the JPEG names it, jpeg-comment.ts), else the last one seen. */
function onAnnotated(state: ViewState, jpeg: Uint8Array): void {
  const url = URL.createObjectURL(new Blob([jpeg as Uint8Array<ArrayBuffer>], { type: "image/jpeg" }));
  const id = requestOfJpeg(jpeg);
  if (id !== null && state.requests.has(id)) {
    state.attachImage(id, url);
    return;
  }
  if (lastAnnotated) URL.revokeObjectURL(lastAnnotated.url);
  lastAnnotated = { url, ...(id === null ? {} : { of: id }) };
}

function showPicture(picture: { url: string; of?: string } | undefined): void {
  $("annotated-box").hidden = picture === undefined;
  if (!picture) return;
  const img = $("annotated") as HTMLImageElement;
  if (img.src !== picture.url) img.src = picture.url;
  img.dataset.request = picture.of ?? "";
  $("annotated-of").textContent = picture.of
    ? `request ${picture.of}, its detections drawn`
    : "the last annotated image";
}

void main();

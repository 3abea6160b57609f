/**
 * The latency model: how long one inference takes on the devices and links that are
 * really there, stage by stage, as the source runs a schedule (actors/runtime/job.ts).
 *
 * A distributed stage is three phases in sequence, because the source sends every
 * remote part its input at once, waits for every output, then assembles:
 * - scatter: the inputs travel source → broker → devices. Every link carries what passes
 *   it: with the broker on the source device (the embedded default) the source's uplink
 *   carries the sum of every remote input and each device's downlink its own; with the
 *   broker on a host of its own, its link carries the sum in both directions (in from the
 *   source, out to the devices) and the source's uplink the sum too. The phase lasts as
 *   long as the busiest link needs: parallel TCP streams share a bottleneck and all end
 *   with it.
 * - compute: the slowest device's multiplications at its sustained speed, the source's
 *   own part included;
 * - gather: the outputs back, the same links in the other direction;
 * plus a fixed cost per exchange (one broker hop each way, measured) and the source's
 * assembly (copying or summing what it gathered). A stage the source runs alone costs
 * its work at the source's speed.
 *
 * Bytes on a link are payload × TCP_IP_OVERHEAD: a link's rate counts IP packets.
 *
 * How each phase's tensors travel is the wire's choice (core/dtypes.ts): each phase
 * takes the fastest of the dtypes the profile allows — fewer bytes on the links against
 * the CPU that encodes them at the sender and decodes them at the receiver — and an FTP
 * stage's scatter may send each tile device the request's encoded image instead, which
 * the device decodes and letterboxes itself. Scatter and gather choose independently:
 * the source decodes what it gathers into float32 and encodes what it scatters anew.
 */
import { type ActivationDtype, encodedBytes } from "../core/dtypes.js";
import type { BrokerPlacement, PlanDevice } from "./schema.js";

/** What the model knows of one device slot: speed in MAC/s, link rates in bytes/s (Infinity: not limited). */
export interface SlotProfile {
  readonly workerId: string;
  readonly macPerSec: number;
  readonly upBytesPerSec: number;
  readonly downBytesPerSec: number;
}

/** How tensors may travel: what the plan's `wire` choice allows. */
export interface WireProfile {
  /** The dtypes an activation may travel as; each phase takes the fastest. */
  readonly activations: readonly ActivationDtype[];
  /** An FTP stage's tile inputs travel as the request's encoded image: never, or when the model predicts it faster. */
  readonly image: "never" | "faster";
}

export interface NetworkProfile {
  /** Slot 0 is the source. */
  readonly slots: readonly SlotProfile[];
  /** The broker's own link, bytes/s each way; null: the broker runs on the source device. */
  readonly brokerBytesPerSec: number | null;
  readonly wire: WireProfile;
}

/** Tensors as float32 alone, the image never: what plans were before the wire had a choice. */
export const FLOAT32_WIRE: WireProfile = { activations: ["float32"], image: "never" };

/** What one stage moves and computes, per device slot (slot 0's own part never travels). */
export interface StageFlows {
  /** Elements sent to each slot, and gathered from it. */
  readonly scatter: readonly number[];
  readonly gather: readonly number[];
  readonly mults: readonly number[];
  /** Elements each slot writes: every output (or partial sum) of every layer it runs (OUTPUT_MACS_PER_ELEMENT each). */
  readonly writes: readonly number[];
  /** Elements the source copies or sums while assembling the stage's output. */
  readonly assembled: number;
  /** Every remote part gets the same whole tensor (LOP, FUSE without a kept slice): the source encodes it once. */
  readonly sharedScatter?: boolean;
  /** FTP: the tile devices could take the request's image instead (the slots with a tile, and the work of decoding it). */
  readonly image?: { readonly slots: readonly boolean[]; readonly decodeMacs: number };
}

export interface StageTime {
  readonly seconds: number;
  readonly scatterSeconds: number;
  readonly computeSeconds: number;
  readonly gatherSeconds: number;
  readonly messageSeconds: number;
  readonly scatterBytes: number;
  readonly gatherBytes: number;
  readonly bound: string;
  /** How the scatter's and the gather's tensors travel. */
  readonly scatterWire: ActivationDtype;
  readonly gatherWire: ActivationDtype;
  /** FTP: each tile device gets the request's encoded image instead (a tensor request's tiles go as `scatterWire`). */
  readonly scatterImage: boolean;
}

/** 1500-byte IP packets carry 1448 bytes of TCP payload (20 IP + 32 TCP with timestamps). */
export const TCP_IP_OVERHEAD = 1500 / 1448;

/**
 * The fixed cost of one exchange through the broker (publish → broker → subscriber,
 * both event loops), whatever its size: measured in the lab at 0.25 core per device,
 * small tasks round trip in about 2 × this.
 */
export const MESSAGE_SECONDS = 0.004;

/**
 * The CPU a byte costs where it passes, in multiply-accumulates of that device's measured
 * speed: framing, chunking, copying and the broker's routing. A device's own MQTT client
 * pays CLIENT_MACS_PER_BYTE for what it sends and receives; the device that runs the
 * broker pays BROKER_MACS_PER_BYTE for every byte it forwards, in and out. On a quarter
 * core this, not the link, bounds a fast network: in the lab at 1 Gbit, 0.25 core per
 * device (7.3 GMAC/s), yolov2-tiny's plans took 43–60 ns longer per byte through the
 * source than their links need, about 360 multiply-accumulates of its speed.
 */
export const CLIENT_MACS_PER_BYTE = 60;
export const BROKER_MACS_PER_BYTE = 150;

/**
 * What a layer costs beyond its multiply-accumulates, per element it writes, in
 * multiply-accumulates of the device's measured speed: batch norm and activation, the
 * pooling layers, and above all the memory traffic of large feature maps, which the
 * speed probe (a conv on a 26×26 map that fits in cache) never sees. YOLOv2's first
 * layers write 12 M elements for 0.3 G multiply-accumulates: one thread at full speed
 * ran its layer 0 at 2 GMAC/s and its layer 12 at 31 (`edgefuse`'s layers one by one on
 * onnxruntime). In the lab at 0.25 core 150 fits what was measured: one device runs
 * YOLOv2 in 7.2 s beside its decoding (31.5 G MACs and 43 M writes at the 5.1 GMAC/s it
 * announced: 7.4 s; without this term 6.1 s), and an FTP tile of layers 0–16 in 1.13 s
 * (4.4 G and 10 M writes at 5.1: 1.15 s; without, 0.86 s).
 */
// 150 fitted YOLOv2 608's plans in the lab (docs/results/2026-12-01/planner-check-6dev were
// predicted with it), but it over-predicts yolov2-tiny on 3 devices (2.16 s against 1.49 s): off until a
// per-layer calibration replaces one constant.
export const OUTPUT_MACS_PER_ELEMENT = 0;

/** The cost of one element the source copies or adds while assembling, in multiply-accumulates of its measured speed. */
export const ASSEMBLY_MACS_PER_ELEMENT = 60;

/**
 * The CPU one element costs to encode (sender) and decode (receiver), in
 * multiply-accumulates of that device's measured speed: `npm run bench -- codecs` (one
 * thread: float16 0.41 / 0.99 GB/s of float32, q8 0.35 / 0.96) where the speed probe
 * measures ~30 GMAC/s. float32 travels as it is.
 */
export const CODEC_MACS_PER_ELEMENT: Record<ActivationDtype, { encode: number; decode: number }> = {
  float32: { encode: 0, decode: 0 },
  float16: { encode: 290, decode: 120 },
  q8: { encode: 340, decode: 125 },
};

/**
 * The request's encoded image as the model assumes it: a camera JPEG of a few hundred
 * kB (the sample images are 114–164 kB). What arrives is sent as it is, whatever its size.
 */
export const ASSUMED_IMAGE_BYTES = 200_000;

/** Assumed when a device announces no speed (planning offline): about a quarter of a core here. */
export const ASSUMED_GMAC_PER_SEC = 10;

const bytesPerSec = (bitsPerSec: number | undefined): number => (bitsPerSec === undefined ? Infinity : bitsPerSec / 8);

/** The profile of the plan's devices in slot order. */
export function networkProfile(
  devices: readonly PlanDevice[],
  broker: BrokerPlacement,
  wire: WireProfile,
): NetworkProfile {
  return {
    slots: devices.map((d) => ({
      workerId: d.workerId,
      macPerSec: (d.gmacPerSec ?? ASSUMED_GMAC_PER_SEC) * 1e9,
      upBytesPerSec: bytesPerSec(d.uplinkBitsPerSec),
      downBytesPerSec: bytesPerSec(d.downlinkBitsPerSec),
    })),
    brokerBytesPerSec: broker === "source" ? null : broker.bitsPerSec / 8,
    wire,
  };
}

/** Phase.link for a device's CPU moving the bytes: CPU_OF_SLOT − slot. */
const CPU_OF_SLOT = -10;

/**
 * The busiest link of one direction of an exchange, or the CPU that moves its bytes:
 * its time, and which (-1 the source's link, -2 the broker's, d ≥ 1 slot d's link,
 * CPU_OF_SLOT − d slot d's CPU).
 */
interface Phase {
  readonly seconds: number;
  readonly bytes: number;
  readonly link: number;
}

/**
 * One direction of an exchange: `bytes[d]` of payload to (scatter) or from slot d,
 * through the links and the CPUs that move them; the sender's encoding and the
 * receiver's decoding (`codecSeconds`) come before and after. `shared`: one message
 * every device reads (a scatter on layerIn): the source publishes it once, and only the
 * broker sends a copy to each device.
 */
function phase(
  bytes: readonly number[],
  p: NetworkProfile,
  scatter: boolean,
  codecSeconds: number,
  shared = false,
): Phase {
  let total = 0;
  let seconds = 0;
  let link = -1;
  for (let d = 1; d < bytes.length; d++) {
    const onLink = bytes[d]! * TCP_IP_OVERHEAD;
    if (onLink === 0) continue;
    total += onLink;
    const slot = p.slots[d]!;
    const t = onLink / (scatter ? slot.downBytesPerSec : slot.upBytesPerSec);
    if (t > seconds) [seconds, link] = [t, d];
    const cpu = (onLink * CLIENT_MACS_PER_BYTE) / slot.macPerSec;
    if (cpu > seconds) [seconds, link] = [cpu, CPU_OF_SLOT - d];
  }
  const source = p.slots[0]!;
  const brokerOnSource = p.brokerBytesPerSec === null;
  // What the source's client sends or takes: one copy of a shared message.
  const published = shared ? Math.max(0, ...bytes.slice(1)) * TCP_IP_OVERHEAD : total;
  // With the broker on the source, every device's copy crosses the source's link.
  const onSourceLink = brokerOnSource ? total : published;
  const atSource = onSourceLink / (scatter ? source.upBytesPerSec : source.downBytesPerSec);
  if (atSource >= seconds) [seconds, link] = [atSource, -1];
  // The broker's host forwards everything: in on its downlink, out on its uplink.
  if (!brokerOnSource && total / p.brokerBytesPerSec > seconds) [seconds, link] = [total / p.brokerBytesPerSec, -2];
  // The source's client handles what it publishes; a broker on the source takes that in and sends every copy out.
  const sourceCpu =
    (published * CLIENT_MACS_PER_BYTE + (brokerOnSource ? (published + total) * BROKER_MACS_PER_BYTE : 0)) /
    source.macPerSec;
  if (sourceCpu > seconds) [seconds, link] = [sourceCpu, CPU_OF_SLOT];
  return { seconds: seconds + codecSeconds, bytes: total / TCP_IP_OVERHEAD, link };
}

/** The slowest of the slots' work, `macs[d]` at slot d's speed (slot 0 included when `fromSlot` is 0). */
function slowest(macs: (d: number) => number, p: NetworkProfile, fromSlot: number): number {
  let seconds = 0;
  for (let d = fromSlot; d < p.slots.length; d++) seconds = Math.max(seconds, macs(d) / p.slots[d]!.macPerSec);
  return seconds;
}

/**
 * `elements[d]` as `dtype` to slot d (scatter) or from it (gather). Scatter: the source
 * encodes every remote part (`shared`: one tensor for all), each device decodes its own;
 * gather the other way round.
 */
function tensorPhase(
  elements: readonly number[],
  p: NetworkProfile,
  scatter: boolean,
  dtype: ActivationDtype,
  shared = false,
): Phase {
  const codec = CODEC_MACS_PER_ELEMENT[dtype];
  const parts = elements.slice(1);
  // What the source encodes (scatter) or decodes (gather): a tensor every part shares is encoded once.
  const remote = shared ? Math.max(0, ...parts) : parts.reduce((a, b) => a + b, 0);
  const atSource = (remote * (scatter ? codec.encode : codec.decode)) / p.slots[0]!.macPerSec;
  const atDevices = slowest((d) => elements[d]! * (scatter ? codec.decode : codec.encode), p, 1);
  const bytes = elements.map((e) => (e > 0 ? encodedBytes(dtype, e) : 0));
  return phase(bytes, p, scatter, atSource + atDevices, shared);
}

/** The fastest dtype the profile allows for a phase's tensors. */
function fastestTensorPhase(
  elements: readonly number[],
  p: NetworkProfile,
  scatter: boolean,
  shared = false,
): Phase & { wire: ActivationDtype } {
  let best: (Phase & { wire: ActivationDtype }) | undefined;
  for (const dtype of p.wire.activations) {
    const t = tensorPhase(elements, p, scatter, dtype, shared);
    if (!best || t.seconds < best.seconds) best = { ...t, wire: dtype };
  }
  return best!;
}

/** The scatter as the fastest dtype, or as the request's image to every tile device when that is faster. */
function fastestScatter(flows: StageFlows, p: NetworkProfile): Phase & { wire: ActivationDtype; image: boolean } {
  const tensor = { ...fastestTensorPhase(flows.scatter, p, true, flows.sharedScatter), image: false };
  const image = flows.image;
  if (!image || p.wire.image === "never") return tensor;
  const bytes = image.slots.map((has, d) => (has && d > 0 ? ASSUMED_IMAGE_BYTES : 0));
  const decoding = slowest((d) => (image.slots[d] && d > 0 ? image.decodeMacs : 0), p, 1);
  const t = phase(bytes, p, true, decoding, true);
  return t.seconds < tensor.seconds ? { ...t, wire: tensor.wire, image: true } : tensor;
}

const linkName = (link: number, p: NetworkProfile, scatter: boolean): string => {
  if (link === -2) return "broker link";
  if (link <= CPU_OF_SLOT) return `moving bytes on ${p.slots[CPU_OF_SLOT - link]!.workerId}`;
  const up = (link === -1) === scatter; // the source sends on its uplink; a device receives on its downlink
  return `${p.slots[Math.max(0, link)]!.workerId} ${up ? "uplink" : "downlink"}`;
};

/** The slowest device's compute (its multiply-accumulates and the elements it writes) and which slot it is. */
function compute(flows: Pick<StageFlows, "mults" | "writes">, p: NetworkProfile): { seconds: number; slot: number } {
  let seconds = 0;
  let slot = 0;
  flows.mults.forEach((m, d) => {
    const t = (m + (flows.writes[d] ?? 0) * OUTPUT_MACS_PER_ELEMENT) / p.slots[d]!.macPerSec;
    if (t > seconds) [seconds, slot] = [t, d];
  });
  return { seconds, slot };
}

/** The predicted time of one distributed stage, and what bounds it. */
export function stageTime(flows: StageFlows, p: NetworkProfile): StageTime {
  const scatter = fastestScatter(flows, p);
  const gather = fastestTensorPhase(flows.gather, p, false);
  const work = compute(flows, p);
  const remote = scatter.bytes > 0 || gather.bytes > 0;
  const messageSeconds = (remote ? 2 * MESSAGE_SECONDS : 0) + sourceWork(flows.assembled, p);
  const largest = Math.max(scatter.seconds, work.seconds, gather.seconds);
  const bound =
    largest === work.seconds
      ? `compute on ${p.slots[work.slot]!.workerId}`
      : largest === scatter.seconds
        ? linkName(scatter.link, p, true)
        : linkName(gather.link, p, false);
  return {
    seconds: scatter.seconds + work.seconds + gather.seconds + messageSeconds,
    scatterSeconds: scatter.seconds,
    computeSeconds: work.seconds,
    gatherSeconds: gather.seconds,
    messageSeconds,
    scatterBytes: scatter.bytes,
    gatherBytes: gather.bytes,
    bound,
    scatterWire: scatter.wire,
    gatherWire: gather.wire,
    scatterImage: scatter.image,
  };
}

/** Seconds the source spends copying or summing `elements` at its speed. */
export function sourceWork(elements: number, p: NetworkProfile): number {
  return (elements * ASSEMBLY_MACS_PER_ELEMENT) / p.slots[0]!.macPerSec;
}

/** A stage the source runs alone (route, reorg, region: weightless, elementwise). */
export function sourceStageTime(elements: number, p: NetworkProfile): StageTime {
  const seconds = sourceWork(elements, p);
  return {
    seconds,
    scatterSeconds: 0,
    computeSeconds: seconds,
    gatherSeconds: 0,
    messageSeconds: 0,
    scatterBytes: 0,
    gatherBytes: 0,
    bound: `compute on ${p.slots[0]!.workerId}`,
    scatterWire: "float32",
    gatherWire: "float32",
    scatterImage: false,
  };
}

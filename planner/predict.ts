/**
 * A candidate plan's predicted time, stage by stage, in the order the source runs them
 * (actors/runtime/schedule.ts): the FTP stage, then per partitioned layer its stage (a
 * FUSE pair is one), with the layers the devices carry inside it, and the layers the
 * source runs alone (route, reorg, region, and the channel-wise layers after an input
 * cut) as stages of their own.
 */
import { shapeSize } from "../dnn/layers.js";
import type { Network } from "../dnn/network.js";
import type { Candidate } from "./candidates.js";
import { unitStageTime } from "./fastest-schemes.js";
import { type NetworkProfile, type StageTime, sourceStageTime, stageTime } from "./latency.js";
import type { Prediction } from "./schema.js";
import { type PlanWire, wireStage } from "./wire.js";
import { splitsInput } from "./schemes.js";
import { ftpFlows, unitCuts } from "./stage-flows.js";

/**
 * The source's work before the first stage and after the last, in multiply-accumulates
 * of its measured speed: decoding the image and letterboxing it, per element of the
 * network's input (dog.jpg into YOLOv2 608: 35 ms here at full speed, where the probe
 * runs 40 GMAC/s: ~1300 per element; into yolov2-tiny 416: ~2100; in the lab at 0.25
 * core the median came to ~1400), and region decoding with NMS, per element of the last
 * layer's output (synthetic weights leave many boxes: 0.15–0.8 µs per element at full
 * speed; the lab's median at 0.25 core ~8000).
 */
export const PRE_MACS_PER_INPUT_ELEMENT = 1400;
export const POST_MACS_PER_OUTPUT_ELEMENT = 8000;

type PredictedStage = Prediction["stages"][number];

/** A stage of the prediction, and how the model chose its tensors to travel (the plan's `wire`). */
const stage = (
  layers: [number, number],
  scheme: PredictedStage["scheme"],
  { scatterWire: _s, gatherWire: _g, scatterImage: _i, ...t }: StageTime,
): PredictedStage => ({ layers, scheme, ...t });

/** The FTP stage's time alone (the search adds it to the chain's). */
export function ftpStageTime(
  network: Network,
  c: Pick<Candidate, "ftpEnd" | "ftp">,
  p: NetworkProfile,
): StageTime | null {
  if (c.ftpEnd <= 0) return null;
  const decoding = shapeSize(network.input) * PRE_MACS_PER_INPUT_ELEMENT;
  return stageTime(ftpFlows(c.ftp, network.layers[c.ftpEnd - 1]!.stats.outputs, decoding), p);
}

/** The source's work before and after the stages. */
export function prePostSeconds(network: Network, p: NetworkProfile): number {
  const input = shapeSize(network.input);
  const output = network.layers.at(-1)!.stats.outputs;
  return (input * PRE_MACS_PER_INPUT_ELEMENT + output * POST_MACS_PER_OUTPUT_ELEMENT) / p.slots[0]!.macPerSec;
}

/** The candidate's predicted time, and how its stages' tensors travel (the faster way the profile allows). */
export function predictCandidate(
  network: Network,
  c: Candidate,
  p: NetworkProfile,
  objective: Prediction["objective"],
  broker: Prediction["broker"],
): { prediction: Prediction; wire: PlanWire["stages"] } {
  const stages: PredictedStage[] = [];
  const wire: PlanWire["stages"] = [];
  const distributed = (layers: [number, number], scheme: PredictedStage["scheme"], t: StageTime) => {
    stages.push(stage(layers, scheme, t));
    wire.push(wireStage(layers, t));
  };
  const ftp = ftpStageTime(network, c, p);
  if (ftp) distributed([0, c.ftpEnd - 1], "ftp", ftp);
  const unitAt = new Map(c.units.map((u, k) => [u.layer, k]));
  const cuts = unitCuts(c.units, c.split);
  const onDevices = new Set<number>(); // carried layers that run inside a stage
  for (const layer of network.layers.slice(c.ftpEnd)) {
    const k = unitAt.get(layer.index);
    if (k === undefined) {
      if (!onDevices.has(layer.index))
        stages.push(stage([layer.index, layer.index], "source", sourceStageTime(layer.stats.outputs, p)));
      continue;
    }
    const u = c.units[k]!;
    const scheme = c.choice.schemes[k]!;
    if (!splitsInput(scheme)) for (const l of u.carried) onDevices.add(l);
    if (scheme === "fuse2") continue;
    const t = unitStageTime(c.units, k, scheme, c.choice.schemes[k - 1], cuts, p);
    const last = scheme === "fuse1" ? c.units[k + 1]!.layer : (u.carried.at(-1) ?? u.layer);
    distributed([u.layer, scheme === "lip" ? u.layer : last], scheme === "fuse1" ? "fuse" : scheme, t);
  }
  const prePost = prePostSeconds(network, p);
  const seconds = stages.reduce((a, s) => a + s.seconds, 0) + prePost;
  return { prediction: { objective, broker, seconds, prePostSeconds: prePost, stages }, wire };
}

/**
 * How a plan's tensors travel (`--wire`), and what the plan records of it: the dtype of
 * every edge of every distributed stage.
 *
 * - f32: every tensor as float32, as darknet computes it: distributed equals one device
 *   to the last bit.
 * - f16 / q8: every activation (stage inputs, outputs and LIP/FUSE partial sums) as that
 *   type; the FTP tiles' inputs as the request's encoded image when the model predicts
 *   that faster (each tile device then decodes and letterboxes the whole image as the
 *   source would, to the bit, and cuts its regions: fewer bytes, but on a quarter core
 *   decoding costs about what 100 Mbit of tile pixels do).
 * - auto (the default): per phase whichever of float32 and float16 the latency model
 *   predicts faster, and the image for FTP tiles likewise. float16 keeps the detections
 *   float32 gives on the sample images (README, "Fewer bytes on the wire"); q8 moves
 *   boxes, so it is there to ask for, never chosen for you.
 *
 * Whatever the plan says, a sender whose tensor holds a value the dtype cannot carry
 * (float16: beyond ±65504, NaN) sends that frame as float32: every frame says its dtype.
 */
import { type ActivationDtype, WIRE_DTYPES } from "../core/dtypes.js";
import { FLOAT32_WIRE, type StageTime, type WireProfile } from "./latency.js";
import type { Plan } from "./schema.js";

export const WIRE_CHOICES = ["auto", "f32", "f16", "q8"] as const;
export type WireChoice = (typeof WIRE_CHOICES)[number];

/** What the latency model may choose among for a `--wire` choice. */
export function wireProfile(choice: WireChoice): WireProfile {
  if (choice === "f32") return FLOAT32_WIRE;
  if (choice === "auto") return { activations: ["float32", "float16"], image: "faster" };
  return { activations: [WIRE_DTYPES[choice]], image: "faster" };
}

/** The short name of a dtype (float16 → f16), as flags and tables write it. */
export const WIRE_NAME = Object.fromEntries(Object.entries(WIRE_DTYPES).map(([name, d]) => [d, name])) as Record<
  ActivationDtype,
  string
>;

export type PlanWire = NonNullable<Plan["wire"]>;
type WireStage = PlanWire["stages"][number];

/** One distributed stage's edges as the model chose them. */
export const wireStage = (layers: [number, number], t: StageTime): WireStage => ({
  layers,
  input: t.scatterWire,
  output: t.gatherWire,
  ...(t.scatterImage ? { image: true } : {}),
});

/** The edges of the stage that starts at `firstLayer`: float32 for plans that predate the wire's choice. */
export function stageWire(plan: Plan, firstLayer: number): Omit<WireStage, "layers"> {
  const found = plan.wire?.stages.find((s) => s.layers[0] === firstLayer);
  return found ?? { input: "float32", output: "float32" };
}

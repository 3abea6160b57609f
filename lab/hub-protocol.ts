/**
 * What the experiment driver and the hub agent (hub-agent.ts) say to each other:
 * one JSON object per line, requests on the agent's stdin, replies on its stdout.
 * zod on the agent's side checks what arrives; the driver trusts its own child.
 */
import { z } from "zod";
import { WIRE_CHOICES } from "../planner/wire.js";
import type { StageTrace } from "../broker/messages.js";
import { FTP_CHOICES } from "../planner/schema.js";
import { STRATEGIES } from "../planner/schemes.js";
import { OBJECTIVES, SPLIT_CHOICES } from "../planner/build.js";
import { brokerPlacementSchema } from "../planner/schema.js";

/** A link and whose bytes cross it: some workers' connections (or all of them), and the source's. */
export const LinkCarriage = z.object({
  /** The device's id ("source", "w1", …) or "gateway". */
  name: z.string(),
  workers: z.union([z.literal("all"), z.array(z.string())]),
  source: z.boolean(),
});
export type LinkCarriage = z.infer<typeof LinkCarriage>;

/** The environment variable that carries the agent's configuration. */
export const HUB_AGENT_ENV = "EDGEFUSE_LAB_HUB";

export const HubAgentConfig = z.object({
  cfg: z.string(),
  weights: z.string(),
  image: z.string(),
  /** Devices in all, the source included: the planner waits for this many. */
  devices: z.number().int().positive(),
  deployment: z.string(),
  port: z.number().int().min(0).max(65535),
  maxPacketBytes: z.number().int().positive(),
  /** What the planner is told of the broker's placement (topology.ts). */
  broker: brokerPlacementSchema,
  /** Each link and whose connections' bytes cross it (topology.ts LinkSpec). */
  links: z.array(LinkCarriage),
});
export type HubAgentConfig = z.infer<typeof HubAgentConfig>;

const planning = z.object({
  strategy: z.enum(STRATEGIES),
  ftpEnd: z.union([z.number().int().nonnegative(), z.enum(FTP_CHOICES)]),
  /** Absent: the planner's defaults (least predicted time, split as it prefers). */
  objective: z.enum(OBJECTIVES).optional(),
  split: z.enum(SPLIT_CHOICES).optional(),
  /** How tensors travel (planner/wire.ts); absent: the planner's default. */
  wire: z.enum(WIRE_CHOICES).optional(),
});
export type LabPlanning = z.infer<typeof planning>;

export const HubRequest = z.discriminatedUnion("op", [
  z.object({ id: z.number().int(), op: z.literal("plan"), planning, timeoutMs: z.number().positive() }),
  z.object({ id: z.number().int(), op: z.literal("infer"), requestId: z.string(), timeoutMs: z.number().positive() }),
  /** Answered once every device has announced itself (each has measured its speed under its own quota). */
  z.object({ id: z.number().int(), op: z.literal("present"), timeoutMs: z.number().positive() }),
]);
export type HubRequest = z.infer<typeof HubRequest>;

export interface PlanReply {
  readonly op: "plan";
  readonly planId: string;
  /** The plan's modelled C for the whole inference, bytes. */
  readonly costBytes: number;
  readonly devices: readonly string[];
  /** Per device (same order): the plan's weight shards. */
  readonly shardBytes: readonly number[];
  /** Per device: weights it announced holding (workers announce it; null if not). */
  readonly presenceWeightBytes: readonly (number | null)[];
  /** The plan's predicted time (planner/latency.ts), seconds; null for a plan without one. */
  readonly predictedSeconds: number | null;
  /** Each stage's predicted time and what bounds it, in the order the source runs them ([] without a prediction). */
  readonly predictedStages: readonly {
    readonly layers: readonly [number, number];
    readonly ms: number;
    readonly bound: string;
  }[];
  /** Per device (same order): the compute speed it announced, GMAC/s (null if none). */
  readonly deviceGmacPerSec: readonly (number | null)[];
}

/** Every device has announced itself. */
export interface PresentReply {
  readonly op: "present";
  readonly devices: number;
}

export interface InferReply {
  readonly op: "infer";
  /** Request published → result received, at the hub. */
  readonly latencyMs: number;
  readonly result: {
    detections: unknown[];
    timings: { totalMs: number; preprocessMs?: number; postprocessMs?: number };
    trace?: StageTrace[];
  };
  /**
   * Socket bytes in + out that crossed each link during the request, by link name
   * (the device's id, or "gateway"): the connections the topology routes over it.
   */
  readonly linkBytes: Readonly<Record<string, number>>;
  readonly modelledBytes: number;
  readonly measuredBytes: number;
}

export type HubReply =
  | {
      readonly id: number;
      readonly ok: true;
      readonly body: PlanReply | InferReply | { readonly op: "listening"; readonly port: number } | PresentReply;
    }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** The planning flags every planning command shares (`plan`, `planner`, `up`), parsed one way. */
import { existsSync } from "node:fs";
import { z } from "zod";
import { modelCfg } from "../core/paths.js";
import { OBJECTIVES, type PlanOptions, SPLIT_CHOICES } from "../planner/build.js";
import { RATE_SYNTAX } from "../core/rates.js";
import { rateSchema } from "./devices.js";
import { SCHEMES, type Scheme, STRATEGIES, STRATEGY_TEXT, type Strategy } from "../planner/schemes.js";
import { WIRE_CHOICES } from "../planner/wire.js";
import { flag, type FlagRule } from "./command.js";
import { defineFlags, type FlagValues } from "./flags.js";

/** The flags every planning command shares (`plan`, `planner`, `up`). */
export const planningFlags = defineFlags({
  cfg: {
    value: "FILE|NAME",
    description: "the darknet cfg: a file, or a model shipped with edgefuse such as yolov2",
    required: true,
  },
  "ftp-layers": {
    value: "auto|auto-comm|B",
    description:
      "FTP on layers 0..B-1 (0 = none); auto: as the objective prefers (least time; with --objective comm least memory per device), auto-comm: least traffic",
    schema: z
      .string()
      .regex(/^(auto|auto-comm|\d+)$/, "expected auto, auto-comm or a layer count B (FTP on layers 0..B-1; 0 = none)")
      .transform((s) => (s === "auto" || s === "auto-comm" ? s : Number(s))),
    default: "auto",
  },
  grid: {
    value: "RxC",
    description: "the FTP tile grid, rows x columns",
    defaultText: "chosen with the FTP depth",
    schema: z
      .string()
      .regex(/^\d+x\d+$/, "expected NxM, e.g. 3x2")
      .transform((g) => g.split("x").map(Number) as [number, number])
      .refine(([r, c]) => r >= 1 && c >= 1, "rows and columns must be ≥ 1"),
  },
  scheme: {
    value: STRATEGIES.join("|"),
    description: `how the later layers are split: ${STRATEGIES.map((s) => `${s} = ${STRATEGY_TEXT[s]}`).join("; ")}`,
    schema: z.string().refine((s): s is Strategy => (STRATEGIES as readonly string[]).includes(s), {
      error: (i) => `unknown scheme '${String(i.input)}': expected one of ${STRATEGIES.join(", ")}`,
    }),
    default: "auto",
  },
  objective: {
    value: OBJECTIVES.join("|"),
    description:
      "what the plan minimises: latency = predicted time on the devices' speeds and links; comm = the paper's C",
    schema: z.enum(OBJECTIVES, {
      error: (i) => `unknown objective '${String(i.input)}': expected ${OBJECTIVES.join(" or ")}`,
    }),
    default: "latency",
  },
  split: {
    value: SPLIT_CHOICES.join("|"),
    description:
      "how the later layers are divided: auto = as the objective prefers (by speed, fewer devices when links bound); even = the same weights on every device",
    schema: z.enum(SPLIT_CHOICES, {
      error: (i) => `unknown split '${String(i.input)}': expected ${SPLIT_CHOICES.join(" or ")}`,
    }),
    default: "auto",
  },
  "broker-link": {
    value: "RATE",
    description: `the broker runs on a host of its own behind a link of this rate, ${RATE_SYNTAX}`,
    defaultText: "the broker runs on the source device",
    schema: rateSchema,
  },
  wire: {
    value: WIRE_CHOICES.join("|"),
    description:
      "how tensors travel: f32 as darknet computes them; f16 or q8 for every activation (FTP tiles may get the image itself); auto = the faster of f32 and f16 per exchange",
    schema: z.enum(WIRE_CHOICES, {
      error: (i) => `unknown wire type '${String(i.input)}': expected one of ${WIRE_CHOICES.join(", ")}`,
    }),
    default: "auto",
  },
  pin: {
    value: "L=SCHEME,...",
    description: `fix layer L's scheme inside the ILP (${SCHEMES.join(", ")}); --scheme auto only`,
    schema: z
      .string()
      .transform((s) => s.split(",").map((p) => p.split("=")))
      .pipe(
        z.array(z.tuple([flag.int("a layer index"), z.enum(SCHEMES)], { error: "expected L=SCHEME, e.g. 18=fuse1" })),
      ),
  },
});

/** Pins are choices inside the ILP: they mean nothing for a fixed scheme. */
export const pinsNeedAuto: FlagRule<{ scheme: Strategy; pin?: unknown }> = {
  flag: "pin",
  message: "--pin fixes layers for --scheme auto only",
  holds: (o) => !(o.pin && o.scheme !== "auto"),
};

/** A cfg path, or the name of a model shipped with the package (`yolov2`). */
export const resolveCfg = (cfg: string): string =>
  existsSync(cfg) || cfg.includes("/") || cfg.endsWith(".cfg") ? cfg : modelCfg(cfg);

type PlanningFlags = Omit<FlagValues<typeof planningFlags>, "cfg">;

/** The planner's options from the shared flags. */
export const planningOf = (o: PlanningFlags): Omit<PlanOptions, "devices" | "name" | "bytesPerElement"> => ({
  ftpEnd: o["ftp-layers"],
  ...(o.grid ? { grid: { rows: o.grid[0], cols: o.grid[1] } } : {}),
  strategy: o.scheme,
  pinned: new Map<number, Scheme>(o.pin ?? []),
  objective: o.objective,
  split: o.split,
  broker: o["broker-link"] ? { bitsPerSec: o["broker-link"] } : "source",
  wire: o.wire,
});

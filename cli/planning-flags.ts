/** The planning flags every planning command shares (`plan`, `planner`, `up`), parsed one way. */
import { existsSync } from "node:fs";
import { z } from "zod";
import { modelCfg } from "../core/paths.js";
import type { PlanOptions } from "../planner/build.js";
import { SCHEMES, type Scheme } from "../planner/costs.js";
import type { Strategy } from "../planner/strategies.js";
import { flag } from "./command.js";

/** `--scheme` as the CLI names it → the planner's strategy. */
const STRATEGY_OF_SCHEME = { auto: "optimal", lop: "lop", lip: "lip", "fuse-all": "fuse-all", paper: "paper" } as const satisfies Record<string, Strategy>;
const SCHEME_NAMES = Object.keys(STRATEGY_OF_SCHEME) as (keyof typeof STRATEGY_OF_SCHEME)[];

/** The flags every planning command shares (`plan`, `planner`). */
export const planningFlags = {
  shape: {
    cfg: z.string({ error: "required: a cfg file or a model name such as yolov2" }).min(1),
    "ftp-layers": z
      .string()
      .regex(/^(auto|auto-comm|\d+)$/, "expected auto, auto-comm or a layer count B (FTP on layers 0..B-1; 0 = none)")
      .transform((s) => (s === "auto" || s === "auto-comm" ? s : Number(s)))
      .default("auto"),
    grid: z
      .string()
      .regex(/^\d+x\d+$/, "expected NxM, e.g. 3x2")
      .transform((g) => g.split("x").map(Number) as [number, number])
      .refine(([r, c]) => r >= 1 && c >= 1, "rows and columns must be ≥ 1")
      .optional(),
    scheme: z
      .string()
      .transform((s, ctx): Strategy => {
        if (Object.hasOwn(STRATEGY_OF_SCHEME, s)) return STRATEGY_OF_SCHEME[s as keyof typeof STRATEGY_OF_SCHEME];
        ctx.addIssue({ code: "custom", message: `unknown scheme '${s}': expected one of ${SCHEME_NAMES.join(", ")}` });
        return z.NEVER;
      })
      .default("optimal"),
    pin: z
      .string()
      .transform((s) => s.split(",").map((p) => p.split("=")))
      .pipe(z.array(z.tuple([flag.int("a layer index"), z.enum(SCHEMES)], { error: "expected L=SCHEME, e.g. 18=fuse1" })))
      .optional(),
  },
  options: {
    cfg: { type: "string" },
    "ftp-layers": { type: "string" },
    grid: { type: "string" },
    scheme: { type: "string" },
    pin: { type: "string" },
  } as const,
  /** Pins are choices inside the ILP: they mean nothing for a fixed scheme. */
  pinsNeedAuto: (o: { scheme: Strategy; pin?: unknown }) => !(o.pin && o.scheme !== "optimal"),
  pinsNeedAutoIssue: { message: "--pin fixes layers for --scheme auto only", path: ["pin"] },
};

/** A cfg path, or the name of a model shipped with the package (`yolov2`). */
export const resolveCfg = (cfg: string): string => (existsSync(cfg) || cfg.includes("/") || cfg.endsWith(".cfg") ? cfg : modelCfg(cfg));

type PlanningFlags = z.output<z.ZodObject<typeof planningFlags.shape>>;

/** The planner's options from the shared flags. */
export const planningOf = (o: PlanningFlags): Omit<PlanOptions, "devices" | "name" | "bytesPerElement"> => ({
  ftpEnd: o["ftp-layers"],
  ...(o.grid ? { grid: { rows: o.grid[0], cols: o.grid[1] } } : {}),
  strategy: o.scheme,
  pinned: new Map<number, Scheme>(o.pin ?? []),
});


/**
 * The variants the paper compares, side by side for one network and roster (its
 * Table 2, extended): one device, LOP everywhere, LIP everywhere, fusion everywhere,
 * the authors' own YOLOv2 plan, and the ILP's optimum.
 *
 * Every distributed variant runs on the FTP boundary and grid the optimum chose, so
 * they differ only in the schemes of the later layers; the paper's plan brings its
 * own boundary (layers 0–11) and is measured against LOP everywhere on that boundary.
 */
import { errorMessage, PlanError } from "../core/errors.js";
import type { Network } from "../dnn/network.js";
import { makePlan, type PlanOptions } from "./build.js";
import type { Grid } from "./ftp.js";
import type { Plan } from "./schema.js";
import type { Strategy } from "./schemes.js";
import { isPaperNetwork, PAPER_YOLOV2 } from "./strategies.js";

export const VARIANTS = ["single device", "all-LOP", "all-LIP", "fuse-all", "paper", "optimum"] as const;
export type VariantName = (typeof VARIANTS)[number];

export interface Variant {
  readonly variant: VariantName;
  /** The FTP stage it runs: null for none. */
  readonly ftp: { readonly end: number; readonly grid: Grid } | null;
  /** Modelled totals (elements); absent when the variant cannot be planned (`problem` says why). */
  readonly weightsPerDevice?: number;
  readonly multiplications?: number;
  readonly commElements?: number;
  /** C of LOP everywhere on the same FTP stage, and the fraction this variant saves against it. */
  readonly lopElements?: number;
  readonly saving?: number;
  readonly problem?: string;
}

const STRATEGY_OF = {
  "all-LOP": "lop",
  "all-LIP": "lip",
  "fuse-all": "fuse-all",
  paper: "paper",
  optimum: "auto",
} as const satisfies Partial<Record<VariantName, Strategy>>;

/** The variants, and the optimum's plan (whose FTP stage the others share). */
export function compareVariants(
  network: Network,
  options: Pick<PlanOptions, "devices"> & Partial<PlanOptions>,
): { variants: Variant[]; optimum: Plan } {
  // The paper's Table 2 compares C: every variant is planned for least C.
  options = { ...options, objective: "comm" };
  const optimum = makePlan(network, { ...options, strategy: "auto" });
  const sameFtp = {
    ...options,
    pinned: new Map(),
    ftpEnd: optimum.ftp?.end ?? 0,
    ...(optimum.ftp ? { grid: optimum.ftp.grid } : {}),
  };
  const lopOn = new Map<string, number | undefined>();
  /** C of all-LOP on a plan's FTP stage (what the paper's "LOP" row is). */
  const lopElements = (plan: Plan) => {
    const key = JSON.stringify(plan.ftp && [plan.ftp.end, plan.ftp.grid]);
    if (!lopOn.has(key)) {
      const ftp = plan.ftp ? { ftpEnd: plan.ftp.end, grid: plan.ftp.grid } : { ftpEnd: 0 };
      lopOn.set(
        key,
        attempt(() => makePlan(network, { ...options, pinned: new Map(), ...ftp, strategy: "lop" })).plan?.totals
          ?.commElements,
      );
    }
    return lopOn.get(key);
  };
  const row = (variant: Exclude<VariantName, "single device">, plan: () => Plan): Variant => {
    const { plan: p, problem } = attempt(plan);
    if (!p) return { variant, ftp: null, problem };
    const totals = p.totals!;
    const lop = lopElements(p);
    return {
      variant,
      ftp: p.ftp && { end: p.ftp.end, grid: p.ftp.grid },
      weightsPerDevice: totals.weightsPerDevice,
      multiplications: totals.multiplications,
      commElements: totals.commElements,
      ...(lop !== undefined ? { lopElements: lop, saving: lop > 0 ? (lop - totals.commElements) / lop : 0 } : {}),
    };
  };
  const variants: Variant[] = [
    {
      variant: "single device",
      ftp: null,
      weightsPerDevice: network.totalWeights,
      multiplications: network.totalMults,
      commElements: 0,
    },
    ...(["all-LOP", "all-LIP", "fuse-all"] as const).map((v) =>
      row(v, () => makePlan(network, { ...sameFtp, strategy: STRATEGY_OF[v] })),
    ),
  ];
  if (isPaperNetwork(network))
    variants.push(
      row("paper", () =>
        makePlan(network, { ...options, pinned: new Map(), ftpEnd: PAPER_YOLOV2.ftpEnd, strategy: "paper" }),
      ),
    );
  variants.push(row("optimum", () => optimum));
  return { variants, optimum };
}

function attempt(make: () => Plan): { plan?: Plan; problem?: string } {
  try {
    return { plan: make() };
  } catch (err) {
    if (!(err instanceof PlanError)) throw err;
    return { problem: errorMessage(err) };
  }
}

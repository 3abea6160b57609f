/**
 * The partitioning schemes of the later layers and the rules between them, defined
 * once: the cost model, the ILP, the plan schema, the shard builder and the schedule
 * all ask here.
 *
 * - LOP: a device holds a slice of the output channels and produces finished outputs.
 * - LIP: a device holds a slice of the input channels and produces partial sums of
 *   every output, which the source adds up before bias, batch norm and activation.
 * - FUSE: LOP on layer l (FUSE1) and LIP on layer l+1 (FUSE2) back to back on the same
 *   device, with nothing exchanged in between.
 */
export const SCHEMES = ["lop", "lip", "fuse1", "fuse2"] as const;
export type Scheme = (typeof SCHEMES)[number];

/**
 * LIP and FUSE2 cut a layer's input channels, so their parts are partial sums that the
 * source merges (sum, then bias/BN/activation); LOP and FUSE1 cut output channels.
 */
export const splitsInput = (scheme: Scheme): boolean => scheme === "lip" || scheme === "fuse2";

/**
 * The reuse rule (the paper's o_{l−1}): after a LOP layer each device already holds its
 * slice of the next layer's input, when that output reaches the next layer only through
 * channel-wise layers (units.ts `reusableByNext` says whether it does).
 */
export const leavesSliceForNext = (scheme: Scheme): boolean => scheme === "lop";

/** FUSE pairing: FUSE1 on layer l is followed by FUSE2 on l+1, and FUSE2 follows only FUSE1. */
export const opensFusePair = (scheme: Scheme): boolean => scheme === "fuse1";
export const closesFusePair = (scheme: Scheme): boolean => scheme === "fuse2";

/**
 * How the schemes of a plan are chosen, one spelling from the CLI (`--scheme`) to the
 * plan's `inputs.strategy`: "auto" is the paper's ILP (least C); the rest are the fixed
 * variants it compares against (strategies.ts).
 */
export const STRATEGIES = ["auto", "lop", "lip", "fuse-all", "paper"] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** What each strategy does, for plan descriptions and `--help`. */
export const STRATEGY_TEXT = {
  auto: "chosen for the objective: least predicted time, or the paper's ILP (least C) with --objective comm",
  lop: "LOP on every layer",
  lip: "LIP on every layer",
  "fuse-all": "pairs (1,2), (3,4), … of every fusable run",
  paper: "the authors' YOLOv2 plan",
} as const satisfies Record<Strategy, string>;

/** Plans written before "auto" was the ILP's one name called it "auto". */
export const LEGACY_STRATEGY_NAMES: Readonly<Record<string, Strategy>> = { optimal: "auto" };

/**
 * makePlan: from a network and the workers present to a Plan.
 *
 * 1. Lay out every allowed FTP boundary b and grid (candidates.ts). By default b and
 *    the grid minimise the largest per-device memory, weights plus peak feature maps
 *    (DeepThings' criterion); "auto-comm" minimises the modelled C instead.
 * 2. Choose the schemes of the layers from b on: the paper's ILP (least C), or a fixed
 *    strategy (strategies.ts). A device's budget bounds the weights it holds; the ILP
 *    honours it, and when no candidate can, the error says how much would be needed.
 * 3. Record per layer the channel range of every part (part p on device slot p), the
 *    modelled F_n / T / C per layer and in total, and the inputs that produced the plan.
 */
import { PlanError } from "../core/errors.js";
import type { Network } from "../dnn/network.js";
import { BYTES_PER_ELEMENT, reuses } from "./costs.js";
import {
  account,
  type Candidate,
  type FtpChoice,
  layout,
  type Layout,
  layoutsToTry,
  preference,
} from "./candidates.js";
import { type Grid, tileSlot } from "./ftp.js";
import { channelRanges, type Slots } from "./parts.js";
import { type Scheme, splitsInput, type Strategy } from "./schemes.js";
import {
  finishPlan,
  networkFingerprint,
  type PartitionedStep,
  type Plan,
  type BrokerPlacement,
  type PlanBody,
  type PlanDevice,
  type PlanStep,
} from "./schema.js";
import { checkPaperNetwork, chooseSchemes, leastNeededWeights, PAPER_YOLOV2 } from "./strategies.js";
import { isWeighted } from "../dnn/layer-traits.js";
import { fastestPlan } from "./fastest-plan.js";
import { networkProfile } from "./latency.js";
import { predictCandidate } from "./predict.js";
import { type WireChoice, wireProfile } from "./wire.js";

export type { FtpChoice } from "./candidates.js";
export { evaluateBoundary } from "./candidates.js";

export interface PlanOptions {
  /** The workers to plan for (their presence: id, memory budget, speed). */
  readonly devices: readonly PlanDevice[];
  /** Layers [0, ftpEnd) run as FTP tiles; 0 = no FTP; "auto" = least largest memory; "auto-comm" = least C. */
  readonly ftpEnd: FtpChoice;
  /** FTP grid; default: chosen with the boundary among the grids with one tile per device on 1..N devices (as many as the weight balance allows). */
  readonly grid?: Grid;
  /** "auto": the paper's ILP; otherwise a fixed variant (strategies.ts). */
  readonly strategy: Strategy;
  /** Schemes fixed for some layers (experiments); the ILP chooses the rest. */
  readonly pinned: ReadonlyMap<number, Scheme>;
  /** Model name recorded in the plan; default: the cfg file's base name. */
  readonly name?: string;
  /** The weights are edgefuse's seeded synthetic ones: the plan says so, and so does every result. */
  readonly syntheticWeights?: boolean;
  /** Bytes per tensor element and weight (4 for float32): turns C and budgets into bytes. */
  readonly bytesPerElement: number;
  /** "latency": least predicted time on the devices' speeds and links (latency.ts); "comm": the paper's least C. */
  readonly objective: Objective;
  /** Where the broker runs: on the source device (the embedded default) or on a host with its own link rate. */
  readonly broker: BrokerPlacement;
  /** How the partitioned layers are divided: "auto" as the objective prefers, "even" the same weights on every device. */
  readonly split: SplitChoice;
  /** How tensors travel (wire.ts): f32, f16 or q8 throughout, or auto (the faster per phase of f32 and f16). */
  readonly wire: WireChoice;
}
export const OBJECTIVES = ["latency", "comm"] as const;
export type Objective = (typeof OBJECTIVES)[number];
export const SPLIT_CHOICES = ["auto", "even"] as const;
export type SplitChoice = (typeof SPLIT_CHOICES)[number];
export const planDefaults = {
  ftpEnd: "auto",
  strategy: "auto",
  pinned: new Map(),
  bytesPerElement: BYTES_PER_ELEMENT,
  objective: "latency",
  broker: "source",
  split: "auto",
  wire: "auto",
} satisfies Omit<PlanOptions, "devices">;

/** 34.0 MB, 6.5 kB; `asGiven` drops a trailing .0, for budgets as the user wrote them (16 MB). */
function mb(bytes: number, asGiven = false): string {
  const [value, unit] = bytes >= 1e5 ? [bytes / 1e6, "MB"] : [bytes / 1e3, "kB"];
  return `${asGiven ? Number(value.toFixed(3)) : value.toFixed(1)} ${unit}`;
}

function sortedDevices(given: readonly PlanDevice[]): PlanDevice[] {
  if (given.length === 0) throw new PlanError("no workers to plan for");
  // The source first (slot 0: it holds the input and takes part in every layer), then by id.
  const devices = [...given].sort(
    (a, b) =>
      Number(b.role === "source") - Number(a.role === "source") ||
      (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0),
  );
  const dup = devices.find((d, i) => i > 0 && devices[i - 1]!.workerId === d.workerId);
  if (dup) throw new PlanError(`worker '${dup.workerId}' is listed twice`);
  return devices;
}

const modelName = (network: Network, name?: string) =>
  name ??
  network.file
    .split(/[\\/]/)
    .pop()!
    .replace(/\.cfg$/, "");

/** "yolov2 needs ≥ 34.0 MB of weights per device on 6 devices; budget is 16 MB". */
function budgetError(
  model: string,
  neededElements: number,
  devices: readonly PlanDevice[],
  opts: PlanOptions,
): PlanError {
  const budgets = devices.filter((d) => d.memoryBudgetBytes !== undefined);
  const uniform =
    budgets.length === devices.length && budgets.every((d) => d.memoryBudgetBytes === budgets[0]!.memoryBudgetBytes);
  const budget = uniform
    ? `budget is ${mb(budgets[0]!.memoryBudgetBytes!, true)}`
    : `budgets are ${budgets.map((d) => `${d.workerId} ${mb(d.memoryBudgetBytes!, true)}`).join(", ")}`;
  const ftp =
    typeof opts.ftpEnd === "number"
      ? opts.ftpEnd > 0
        ? ` with FTP on layers 0–${opts.ftpEnd - 1}`
        : " without FTP"
      : "";
  const strategy = opts.strategy === "auto" ? "" : ` (scheme ${opts.strategy})`;
  return new PlanError(
    `${model} needs ≥ ${mb(neededElements * opts.bytesPerElement)} of weights per device on ${devices.length} device${devices.length === 1 ? "" : "s"}${ftp}${strategy}; ${budget}`,
  );
}

/**
 * How far above total / N the fullest device's weights may go so that FTP tiles can
 * run on more devices: every device with a tile holds the whole stack, so each extra
 * tile device adds a copy of it. 5 % keeps the paper's memory per device (Table 1).
 */
export const FTP_WEIGHTS_SLACK = 0.05;

/**
 * For each FTP boundary, the candidates with tiles on as many devices as the weights
 * allow: the most parallel FTP stage whose fullest device (shards, biases included)
 * stays within FTP_WEIGHTS_SLACK of total / N. Where no tile count does, the tiles go
 * to every device, as in DeepThings. Without this, least memory or least C would put
 * every tile on one device: the least copies and no traffic, but no parallelism.
 */
function spreadAsBalanceAllows(candidates: readonly Candidate[], fairShare: number): Candidate[] {
  const fits = (c: Candidate) => Math.max(...c.params) <= (1 + FTP_WEIGHTS_SLACK) * fairShare;
  // Per boundary: the most tile devices among the candidates that fit, and among all.
  const fitting = new Map<number, number>();
  const any = new Map<number, number>();
  for (const c of candidates) {
    any.set(c.ftpEnd, Math.max(any.get(c.ftpEnd) ?? 0, c.ftpSlots));
    if (fits(c)) fitting.set(c.ftpEnd, Math.max(fitting.get(c.ftpEnd) ?? 0, c.ftpSlots));
  }
  return candidates.filter((c) => c.ftpSlots === (fitting.get(c.ftpEnd) || any.get(c.ftpEnd)));
}

/** The best candidate the options allow, or the error that explains why there is none. */
function bestCandidate(network: Network, opts: PlanOptions, devices: readonly PlanDevice[]): Candidate {
  const N = devices.length;
  const limitOf = devices.map((d) =>
    d.memoryBudgetBytes === undefined ? Infinity : Math.floor(d.memoryBudgetBytes / opts.bytesPerElement),
  );
  const budgeted = limitOf.some(Number.isFinite);
  const layouts = layoutsToTry(network, opts.ftpEnd, opts.grid, N);
  const searching = layouts.length > 1;
  const chosen = new Map<string, ReturnType<typeof chooseSchemes>>(); // the ILP depends on b and the stack's slots, not on the grid
  const candidates: Candidate[] = [];
  const overBudget: Layout[] = [];
  const skipped: string[] = [];
  for (const { ftpEnd, grid } of layouts) {
    try {
      const l = layout(network, ftpEnd, grid, N);
      const key = `${ftpEnd}:${l.base.join(",")}`;
      if (!chosen.has(key))
        chosen.set(
          key,
          chooseSchemes(l.units, l.split, {
            ...opts,
            limits: budgeted ? limitOf.map((x, d) => x - l.base[d]!) : undefined,
          }),
        );
      const choice = chosen.get(key)!;
      if (choice) candidates.push(account(network, l, choice, N));
      else overBudget.push(l);
    } catch (err) {
      if (!searching || !(err instanceof PlanError)) throw err;
      skipped.push(`FTP ${ftpEnd} on ${grid.rows}×${grid.cols}: ${err.message}`);
    }
  }
  if (candidates.length > 0)
    return spreadAsBalanceAllows(candidates, network.totalParams / N).sort(preference(opts.ftpEnd))[0]!;
  if (overBudget.length > 0) {
    const needed = Math.min(...overBudget.map((l) => leastNeededWeights(l.units, l.split, opts, l.base)));
    throw budgetError(modelName(network, opts.name), needed, devices, opts);
  }
  throw new PlanError(`no FTP boundary works for ${network.file}:\n  ${skipped.join("\n  ")}`);
}

export function makePlan(network: Network, options: Pick<PlanOptions, "devices"> & Partial<PlanOptions>): Plan {
  const opts = { ...planDefaults, ...options } satisfies PlanOptions;
  const devices = sortedDevices(opts.devices);
  if (!network.layers.some(isWeighted)) {
    throw new PlanError(`${network.file} has no convolutional or connected layer: nothing to partition`);
  }
  if (!Number.isInteger(opts.bytesPerElement) || opts.bytesPerElement < 1)
    throw new PlanError(`bytes per element must be a whole number ≥ 1, got ${opts.bytesPerElement}`);
  if (opts.strategy === "paper") {
    checkPaperNetwork(network);
    if (opts.ftpEnd !== "auto" && opts.ftpEnd !== PAPER_YOLOV2.ftpEnd) {
      throw new PlanError(
        `the paper's plan runs FTP on layers 0–${PAPER_YOLOV2.ftpEnd - 1}; it cannot use an FTP boundary of ${opts.ftpEnd}`,
      );
    }
  }
  const ftpEnd = opts.strategy === "paper" ? PAPER_YOLOV2.ftpEnd : opts.ftpEnd;
  // What picked b and the grid: the criterion asked for, or nothing when both were given.
  const given = typeof ftpEnd === "number" && (ftpEnd === 0 || opts.grid !== undefined);
  // "auto-comm" asks for the FTP stage with least C: the paper's objective throughout.
  if (opts.objective === "latency" && ftpEnd !== "auto-comm") {
    const fast = fastestPlan(network, { ...opts, ftpEnd }, devices);
    if (fast)
      return finishPlan(
        planBody(network, opts, fast.devices, fast.candidate, given ? "given" : "min-latency", "latency"),
      );
  }
  const best = bestCandidate(network, { ...opts, ftpEnd }, devices);
  const ftpObjective = given ? "given" : ftpEnd === "auto-comm" ? "min-comm" : "min-largest-memory";
  return finishPlan(planBody(network, opts, devices, best, ftpObjective, "comm"));
}

/**
 * The plan made instead when the search for `options` takes too long (plan-thread.ts):
 * every partitioned layer LOP, the paper's baseline, which needs no search (its C is a
 * sum), on the FTP stage `options` ask for; pins are the ILP's, so they go. `why` is its
 * last warning: the plan says it is not the one asked for.
 */
export function fallbackPlan(
  network: Network,
  options: Pick<PlanOptions, "devices"> & Partial<PlanOptions>,
  why: string,
): Plan {
  const lop = { ...options, objective: "comm", strategy: "lop", pinned: new Map() } as const;
  const { id: _id, ...body } = makePlan(network, lop);
  return finishPlan({ ...body, warnings: [...body.warnings, why] });
}

/** The budget warnings that do not stop a plan: biases on top of the weights that fit. */
function shardWarnings(devices: readonly PlanDevice[], c: Candidate, bytesPerElement: number): string[] {
  return devices.flatMap((d, i) => {
    const need = c.params[i]! * bytesPerElement;
    const budget = d.memoryBudgetBytes;
    return budget !== undefined && need > budget
      ? [
          `worker ${d.workerId}: its shards total ${mb(need)} with biases, ${mb(need - budget)} over its ${mb(budget)} budget; it will reload shards while running`,
        ]
      : [];
  });
}

type FtpObjective = NonNullable<PlanBody["objective"]>["ftp"];

/** Everything a plan records but its id. */
function planBody(
  network: Network,
  opts: PlanOptions,
  devices: readonly PlanDevice[],
  c: Candidate,
  ftpObjective: FtpObjective,
  /** What chose the candidate: the latency search, or the paper's C (asked for, or where no division fits the budgets). */
  chosenBy: Objective,
): PlanBody {
  const profile = networkProfile(devices, opts.broker, wireProfile(opts.wire));
  const { prediction, wire } = predictCandidate(network, c, profile, chosenBy, opts.broker);
  return {
    format: "edgefuse-plan",
    version: 1,
    model: {
      name: modelName(network, opts.name),
      fingerprint: networkFingerprint(network),
      input: network.input,
      layers: network.layers.length,
      cfg: network.cfgText,
      ...(opts.syntheticWeights ? { syntheticWeights: true } : {}),
    },
    devices: devices.map((d) => ({ ...d })),
    ftp: planFtp(devices, c),
    steps: planSteps(network, devices, c),
    cost: planCost(devices, c, opts.bytesPerElement),
    warnings: shardWarnings(devices, c, opts.bytesPerElement),
    inputs: {
      strategy: opts.strategy,
      ftpLayers: opts.ftpEnd,
      grid: opts.grid ?? null,
      pinned: [...opts.pinned].map(([layer, scheme]) => ({ layer, scheme })),
      bytesPerElement: opts.bytesPerElement,
      objective: opts.objective,
      split: opts.split,
      broker: opts.broker,
    },
    prediction,
    wire: { choice: opts.wire, stages: wire },
    objective: {
      schemes: opts.strategy !== "auto" ? "fixed" : chosenBy === "latency" ? "min-latency" : "min-comm",
      ftp: ftpObjective,
      largestMemoryElements: Math.round(c.largestMemory),
    },
    totals: planTotals(c, opts.bytesPerElement),
  };
}

/** The FTP stage: its boundary, grid and tiles with the worker of each; null without one. */
function planFtp(devices: readonly PlanDevice[], c: Candidate): PlanBody["ftp"] {
  if (c.ftpEnd <= 0) return null;
  return {
    end: c.ftpEnd,
    grid: c.grid,
    elements: c.ftpElements,
    weights: c.stackWeights,
    tiles: c.tiles.map((t) => ({
      index: t.index,
      workerId: devices[tileSlot(t, c.ftpSlots)]!.workerId,
      output: t.output,
      steps: t.steps.map((s) => ({ ...s })),
      mults: t.mults,
    })),
    perDevice: c.ftp.map((f, d) => ({ workerId: devices[d]!.workerId, ...f })),
  };
}

/** The parts of a layer cut by the candidate's split, one per device slot. */
interface SlotParts {
  cut(n: number, kind: "output" | "input"): PartitionedStep["parts"];
  carry(n: number): Extract<PlanStep, { scheme: "carry" }>["parts"];
}

function slotParts(devices: readonly PlanDevice[], split: Slots): SlotParts {
  // Parts keep their worker's position as their number; an empty range (fewer channels than workers) is left out.
  const ranges = (n: number) =>
    channelRanges(n, split)
      .map((range, p) => ({ part: p, workerId: devices[p]!.workerId, range }))
      .filter((r) => r.range[0] < r.range[1]);
  return {
    cut: (n, kind) =>
      ranges(n).map(({ part, workerId, range: [c0, c1] }) => ({ part, workerId, cut: { kind, c0, c1 } })),
    carry: (n) => ranges(n).map(({ part, workerId, range: [c0, c1] }) => ({ part, workerId, c0, c1 })),
  };
}

/** One step per layer from the FTP boundary on: partitioned, carried on the slices of the step before, or on the source. */
function planSteps(network: Network, devices: readonly PlanDevice[], c: Candidate): PlanBody["steps"] {
  const parts = slotParts(devices, c.split);
  const steps: PlanBody["steps"] = [];
  const unitAt = new Map(c.units.map((u, k) => [u.layer, k]));
  const carriedBy = new Map<number, number>(); // carried layer → channel count of its slice
  for (const layer of network.layers.slice(c.ftpEnd)) {
    const k = unitAt.get(layer.index);
    if (k !== undefined) {
      const u = c.units[k]!;
      steps.push(partitionedStep(c, k, parts));
      if (!splitsInput(c.choice.schemes[k]!)) for (const l of u.carried) carriedBy.set(l, u.channelsOut);
      continue;
    }
    const channels = carriedBy.get(layer.index);
    steps.push(
      channels !== undefined
        ? { layer: layer.index, scheme: "carry", parts: parts.carry(channels) }
        : { layer: layer.index, scheme: "source" },
    );
  }
  return steps;
}

/** Unit k's step: its scheme, whether it reuses the slices the LOP step before left, its modelled costs and parts. */
function partitionedStep(c: Candidate, k: number, parts: SlotParts): PlanBody["steps"][number] {
  const u = c.units[k]!;
  const scheme = c.choice.schemes[k]!;
  const reuse = reuses(c.units, c.choice.schemes, k);
  return {
    layer: u.layer,
    scheme,
    reuse,
    elements: c.choice.perUnit[k]!,
    weightsPerDevice: Math.max(...c.unitWeights[k]!),
    multsOnPath: Math.max(...c.unitMults[k]!),
    parts: splitsInput(scheme) ? parts.cut(u.channelsIn, "input") : parts.cut(u.channelsOut, "output"),
  };
}

/** C in elements and bytes, and what each device holds and computes. */
function planCost(devices: readonly PlanDevice[], c: Candidate, bpe: number): PlanBody["cost"] {
  return {
    elements: c.elements,
    bytes: c.elements * bpe,
    perDevice: devices.map((d, i) => ({
      workerId: d.workerId,
      weights: Math.round(c.weights[i]!),
      shardBytes: Math.round(c.params[i]!) * bpe,
      mults: Math.round(c.mults[i]!),
      featureElements: Math.round(c.features[i]!),
    })),
  };
}

/** The plan's modelled totals: C, the fullest device's weights and memory, and T. */
function planTotals(c: Candidate, bpe: number): PlanBody["totals"] {
  return {
    commElements: c.elements,
    commBytes: c.elements * bpe,
    weightsPerDevice: Math.round(c.largestWeights),
    multiplications: c.multsOnPath,
    memoryPerDevice: Math.round(c.largestMemory),
    bytesPerElement: bpe,
  };
}

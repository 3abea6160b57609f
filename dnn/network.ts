/**
 * A darknet network: the layers of a .cfg with darknet's shape rules, and per layer
 * the quantities the paper's cost model uses (weights Q, multiplications R, input
 * size M, output size K).
 */
import { z } from "zod";
import { CfgError } from "../core/errors.js";
import { type CfgFile, type CfgSection, readCfgFile } from "./cfg.js";

export interface Shape {
  readonly c: number;
  readonly h: number;
  readonly w: number;
}
export const shapeSize = (s: Shape): number => s.c * s.h * s.w;
export const shapeText = (s: Shape): string => `${s.c}×${s.h}×${s.w}`;

export const ACTIVATIONS = ["linear", "leaky", "relu", "logistic"] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** The paper's per-layer quantities, in elements (not bytes). */
export interface LayerStats {
  /** Q: weights (no biases / BN), what the paper partitions. */
  readonly weights: number;
  /** Every stored parameter: weights + biases (+ BN scales, means, variances). */
  readonly params: number;
  /** R: multiplications. */
  readonly mults: number;
  /** M: input elements. */
  readonly inputs: number;
  /** K: output elements. */
  readonly outputs: number;
}

interface LayerCommon {
  readonly index: number;
  /** Line of the section header in the cfg, for messages. */
  readonly line: number;
  readonly input: Shape;
  readonly output: Shape;
  readonly stats: LayerStats;
}

export interface ConvLayer extends LayerCommon {
  readonly kind: "convolutional";
  readonly filters: number;
  readonly size: number;
  readonly stride: number;
  /** Zero padding on every side (darknet: pad=1 means size/2; `padding` sets it directly). */
  readonly pad: number;
  readonly groups: number;
  readonly batchNormalize: boolean;
  readonly activation: Activation;
}
export interface MaxpoolLayer extends LayerCommon {
  readonly kind: "maxpool";
  readonly size: number;
  readonly stride: number;
  /** darknet's total padding; `padding/2` goes before, the rest after. */
  readonly padding: number;
}
export interface AvgpoolLayer extends LayerCommon {
  readonly kind: "avgpool";
}
export interface RouteLayer extends LayerCommon {
  readonly kind: "route";
  /** Absolute indices of the layers whose outputs are concatenated (channel-wise). */
  readonly layers: readonly number[];
}
export interface ReorgLayer extends LayerCommon {
  readonly kind: "reorg";
  readonly stride: number;
}
export interface ConnectedLayer extends LayerCommon {
  readonly kind: "connected";
  readonly batchNormalize: boolean;
  readonly activation: Activation;
}
export interface DropoutLayer extends LayerCommon {
  readonly kind: "dropout";
}
export interface SoftmaxLayer extends LayerCommon {
  readonly kind: "softmax";
  readonly groups: number;
  readonly temperature: number;
}
export interface RegionLayer extends LayerCommon {
  readonly kind: "region";
  readonly anchors: readonly number[];
  readonly classes: number;
  readonly coords: number;
  readonly num: number;
  readonly softmax: boolean;
}

export type Layer =
  | ConvLayer
  | MaxpoolLayer
  | AvgpoolLayer
  | RouteLayer
  | ReorgLayer
  | ConnectedLayer
  | DropoutLayer
  | SoftmaxLayer
  | RegionLayer;
export type LayerKind = Layer["kind"];

export interface Network {
  readonly file: string;
  /** The cfg text, as read. */
  readonly cfgText: string;
  readonly input: Shape;
  readonly layers: readonly Layer[];
  /** Weights Q summed over layers. */
  readonly totalWeights: number;
  /** Every stored parameter, as the .weights file holds them. */
  readonly totalParams: number;
  readonly totalMults: number;
}

// ---- option schemas: a cfg value is a string; these give it a type and a range ----

const int = z
  .string()
  .regex(/^[+-]?\d+$/, "expected an integer")
  .transform(Number);
const positive = int.refine((n) => n > 0, "must be > 0");
const nonNegative = int.refine((n) => n >= 0, "must be ≥ 0");
const flag = int.refine((n) => n === 0 || n === 1, "must be 0 or 1").transform((n) => n === 1);
const float = z
  .string()
  .regex(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, "expected a number")
  .transform(Number);
const floatList = z
  .string()
  .transform((s) => s.split(",").filter((p) => p !== ""))
  .pipe(z.array(float).min(1, "expected a comma-separated list of numbers"));
const intList = z
  .string()
  .transform((s) => s.split(",").filter((p) => p !== ""))
  .pipe(z.array(int).min(1, "expected a comma-separated list of integers"));
// darknet's default activation is logistic (parse.c); real cfgs always name one.
const activation = z.enum(ACTIVATIONS).default("logistic");

const sectionSchemas = {
  net: z.object({ width: positive, height: positive, channels: positive }),
  convolutional: z.object({
    filters: positive,
    size: positive,
    stride: positive.default(1),
    pad: flag.default(false),
    padding: nonNegative.optional(),
    groups: positive.default(1),
    batch_normalize: flag.default(false),
    activation,
  }),
  maxpool: z.object({ stride: positive.default(1), size: positive.optional(), padding: nonNegative.optional() }),
  avgpool: z.object({}),
  route: z.object({ layers: intList }),
  reorg: z.object({ stride: positive.default(1), reverse: flag.default(false), extra: nonNegative.default(0) }),
  connected: z.object({ output: positive, batch_normalize: flag.default(false), activation }),
  dropout: z.object({ probability: float.default(0.5) }),
  softmax: z.object({ groups: positive.default(1), temperature: float.default(1), tree: z.string().optional() }),
  region: z.object({
    anchors: floatList,
    classes: positive,
    coords: positive.default(4),
    num: positive.default(1),
    softmax: flag.default(false),
    background: flag.default(false),
    tree: z.string().optional(),
    map: z.string().optional(),
  }),
} as const;
type SectionType = keyof typeof sectionSchemas;

function parseSection<T extends SectionType>(
  file: string,
  section: CfgSection,
  type: T,
): z.output<(typeof sectionSchemas)[T]> {
  const raw = Object.fromEntries([...section.options].map(([k, v]) => [k, v.value]));
  const result = sectionSchemas[type].safeParse(raw);
  if (result.success) return result.data as z.output<(typeof sectionSchemas)[T]>;
  const issue = result.error.issues[0]!;
  const key = issue.path[0] === undefined ? undefined : String(issue.path[0]);
  const opt = key === undefined ? undefined : section.options.get(key);
  const problem =
    opt === undefined && key !== undefined
      ? `missing required key in [${type}]`
      : `${issue.message}${opt ? `, got '${opt.value}'` : ""}`;
  throw new CfgError(file, opt?.line ?? section.line, key, problem);
}

const isSectionType = (t: string): t is SectionType => Object.hasOwn(sectionSchemas, t);

// ---- shape inference, one function per layer kind ----

function stats(weights: number, params: number, mults: number, input: Shape, output: Shape): LayerStats {
  return { weights, params, mults, inputs: shapeSize(input), outputs: shapeSize(output) };
}

type Ctx = { file: string; section: CfgSection; index: number; input: Shape; built: readonly Layer[] };

function fail(ctx: Ctx, key: string | undefined, problem: string): never {
  throw new CfgError(ctx.file, ctx.section.options.get(key ?? "")?.line ?? ctx.section.line, key, problem);
}

const builders: { [T in Exclude<SectionType, "net">]: (ctx: Ctx) => Layer } = {
  convolutional(ctx) {
    const o = parseSection(ctx.file, ctx.section, "convolutional");
    const { input } = ctx;
    if (input.c % o.groups !== 0 || o.filters % o.groups !== 0)
      fail(ctx, "groups", `groups=${o.groups} must divide input channels ${input.c} and filters ${o.filters}`);
    // darknet parse_convolutional: `if(pad) padding = size/2;` (pad wins over padding).
    const pad = o.pad ? Math.floor(o.size / 2) : (o.padding ?? 0);
    const outH = Math.floor((input.h + 2 * pad - o.size) / o.stride) + 1;
    const outW = Math.floor((input.w + 2 * pad - o.size) / o.stride) + 1;
    if (outH < 1 || outW < 1)
      fail(ctx, "size", `kernel ${o.size} with padding ${pad} does not fit input ${shapeText(input)}`);
    const output = { c: o.filters, h: outH, w: outW };
    const weights = o.filters * (input.c / o.groups) * o.size * o.size;
    const params = weights + o.filters * (o.batch_normalize ? 4 : 1);
    return {
      kind: "convolutional",
      index: ctx.index,
      line: ctx.section.line,
      input,
      output,
      stats: stats(weights, params, weights * outH * outW, input, output),
      filters: o.filters,
      size: o.size,
      stride: o.stride,
      pad,
      groups: o.groups,
      batchNormalize: o.batch_normalize,
      activation: o.activation,
    };
  },
  maxpool(ctx) {
    const o = parseSection(ctx.file, ctx.section, "maxpool");
    const size = o.size ?? o.stride;
    const padding = o.padding ?? size - 1; // darknet parse_maxpool default
    const { input } = ctx;
    const outH = Math.floor((input.h + padding - size) / o.stride) + 1;
    const outW = Math.floor((input.w + padding - size) / o.stride) + 1;
    if (outH < 1 || outW < 1) fail(ctx, "size", `window ${size} does not fit input ${shapeText(input)}`);
    const output = { c: input.c, h: outH, w: outW };
    return {
      kind: "maxpool",
      index: ctx.index,
      line: ctx.section.line,
      input,
      output,
      stats: stats(0, 0, 0, input, output),
      size,
      stride: o.stride,
      padding,
    };
  },
  avgpool(ctx) {
    parseSection(ctx.file, ctx.section, "avgpool");
    const { input } = ctx;
    const output = { c: input.c, h: 1, w: 1 };
    return {
      kind: "avgpool",
      index: ctx.index,
      line: ctx.section.line,
      input,
      output,
      stats: stats(0, 0, 0, input, output),
    };
  },
  route(ctx) {
    const o = parseSection(ctx.file, ctx.section, "route");
    const layers = o.layers.map((l) => (l < 0 ? ctx.index + l : l));
    for (const [i, l] of layers.entries()) {
      if (l < 0 || l >= ctx.index)
        fail(ctx, "layers", `entry ${o.layers[i]} points at layer ${l}, which is not an earlier layer of ${ctx.index}`);
    }
    const shapes = layers.map((l) => ctx.built[l]!.output);
    const first = shapes[0]!;
    for (const [i, s] of shapes.entries()) {
      if (s.h !== first.h || s.w !== first.w)
        fail(
          ctx,
          "layers",
          `layer ${layers[i]} is ${shapeText(s)}, layer ${layers[0]} is ${shapeText(first)}: spatial sizes must match`,
        );
    }
    const output = { c: shapes.reduce((a, s) => a + s.c, 0), h: first.h, w: first.w };
    const input = { c: output.c, h: output.h, w: output.w };
    return {
      kind: "route",
      index: ctx.index,
      line: ctx.section.line,
      input,
      output,
      stats: stats(0, 0, 0, input, output),
      layers,
    };
  },
  reorg(ctx) {
    const o = parseSection(ctx.file, ctx.section, "reorg");
    if (o.reverse || o.extra) fail(ctx, o.reverse ? "reverse" : "extra", "only darknet's forward reorg is supported");
    const { input } = ctx;
    const s = o.stride;
    if (input.h % s !== 0 || input.w % s !== 0)
      fail(ctx, "stride", `stride ${s} must divide input ${input.h}×${input.w}`);
    const output = { c: input.c * s * s, h: input.h / s, w: input.w / s };
    return {
      kind: "reorg",
      index: ctx.index,
      line: ctx.section.line,
      input,
      output,
      stats: stats(0, 0, 0, input, output),
      stride: s,
    };
  },
  connected(ctx) {
    const o = parseSection(ctx.file, ctx.section, "connected");
    const { input } = ctx;
    const output = { c: o.output, h: 1, w: 1 };
    const weights = shapeSize(input) * o.output;
    const params = weights + o.output * (o.batch_normalize ? 4 : 1);
    return {
      kind: "connected",
      index: ctx.index,
      line: ctx.section.line,
      input,
      output,
      stats: stats(weights, params, weights, input, output),
      batchNormalize: o.batch_normalize,
      activation: o.activation,
    };
  },
  dropout(ctx) {
    parseSection(ctx.file, ctx.section, "dropout");
    const { input } = ctx;
    return {
      kind: "dropout",
      index: ctx.index,
      line: ctx.section.line,
      input,
      output: input,
      stats: stats(0, 0, 0, input, input),
    };
  },
  softmax(ctx) {
    const o = parseSection(ctx.file, ctx.section, "softmax");
    if (o.tree !== undefined) fail(ctx, "tree", "softmax trees are not supported");
    const { input } = ctx;
    if (shapeSize(input) % o.groups !== 0)
      fail(ctx, "groups", `groups=${o.groups} must divide ${shapeSize(input)} inputs`);
    return {
      kind: "softmax",
      index: ctx.index,
      line: ctx.section.line,
      input,
      output: input,
      stats: stats(0, 0, 0, input, input),
      groups: o.groups,
      temperature: o.temperature,
    };
  },
  region(ctx) {
    const o = parseSection(ctx.file, ctx.section, "region");
    if (o.tree !== undefined || o.map !== undefined)
      fail(ctx, o.tree !== undefined ? "tree" : "map", "region trees/maps are not supported");
    if (o.background) fail(ctx, "background", "background=1 is not supported");
    if (o.anchors.length !== 2 * o.num)
      fail(ctx, "anchors", `expected ${2 * o.num} values (2 per anchor, num=${o.num}), got ${o.anchors.length}`);
    const { input } = ctx;
    const per = o.coords + 1 + o.classes;
    if (input.c !== o.num * per)
      fail(
        ctx,
        "classes",
        `input has ${input.c} channels, region needs num×(coords+1+classes) = ${o.num}×${per} = ${o.num * per}`,
      );
    return {
      kind: "region",
      index: ctx.index,
      line: ctx.section.line,
      input,
      output: input,
      stats: stats(0, 0, 0, input, input),
      anchors: o.anchors,
      classes: o.classes,
      coords: o.coords,
      num: o.num,
      softmax: o.softmax,
    };
  },
};

export function buildNetwork(cfg: CfgFile): Network {
  const [netSection, ...layerSections] = cfg.sections;
  if (!netSection || (netSection.type !== "net" && netSection.type !== "network")) {
    throw new CfgError(cfg.file, netSection?.line ?? 1, undefined, "the first section must be [net]");
  }
  const net = parseSection(cfg.file, netSection, "net");
  const input: Shape = { c: net.channels, h: net.height, w: net.width };
  if (layerSections.length === 0) throw new CfgError(cfg.file, netSection.line, undefined, "no layers after [net]");
  const layers: Layer[] = [];
  let current = input;
  for (const section of layerSections) {
    if (!isSectionType(section.type) || section.type === "net") {
      throw new CfgError(
        cfg.file,
        section.line,
        undefined,
        `unknown section [${section.type}] (supported: ${Object.keys(builders).join(", ")})`,
      );
    }
    const layer = builders[section.type]({
      file: cfg.file,
      section,
      index: layers.length,
      input: current,
      built: layers,
    });
    layers.push(layer);
    current = layer.output;
  }
  const sum = (f: (s: LayerStats) => number) => layers.reduce((a, l) => a + f(l.stats), 0);
  return {
    file: cfg.file,
    cfgText: cfg.text,
    input,
    layers,
    totalWeights: sum((s) => s.weights),
    totalParams: sum((s) => s.params),
    totalMults: sum((s) => s.mults),
  };
}

export function loadNetwork(cfgPath: string): Network {
  return buildNetwork(readCfgFile(cfgPath));
}

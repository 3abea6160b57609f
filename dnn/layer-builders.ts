/**
 * darknet's shape rules, one builder per layer section: each reads its options, checks
 * they fit the input it is given, and returns the layer with its output shape and stats.
 */
import { CfgError } from "../core/errors.js";
import type { CfgSection } from "./cfg.js";
import { type Layer, type LayerStats, type Shape, shapeSize, shapeText } from "./layers.js";
import { parseSection, type SectionType } from "./section-options.js";

function stats(weights: number, params: number, mults: number, input: Shape, output: Shape): LayerStats {
  return { weights, params, mults, inputs: shapeSize(input), outputs: shapeSize(output) };
}

/** Where a section is built: its file and place in the network, its input, and the layers before it. */
export type Ctx = { file: string; section: CfgSection; index: number; input: Shape; built: readonly Layer[] };

function fail(ctx: Ctx, key: string | undefined, problem: string): never {
  throw new CfgError(ctx.file, ctx.section.options.get(key ?? "")?.line ?? ctx.section.line, key, problem);
}

/**
 * Values one tensor may hold: a layer's output and its weights, 1 GiB as float32.
 * YOLOv2 608's largest is 11.8 M; a cfg that asks for more is refused while its shapes
 * are computed, before anything is allocated for it (a Float32Array that large would
 * be a RangeError, or the heap).
 */
export const MAX_TENSOR_VALUES = 2 ** 28;

/** Where a layer is, its shapes and statistics: what every builder records (input: the previous layer's output unless given). */
function placed(ctx: Ctx, output: Shape, o: { weights?: number; params?: number; mults?: number; input?: Shape } = {}) {
  const { weights = 0, params = 0, mults = 0, input = ctx.input } = o;
  const kind = ctx.section.type;
  if (shapeSize(output) > MAX_TENSOR_VALUES)
    fail(
      ctx,
      undefined,
      `[${kind}] layer ${ctx.index} outputs ${shapeText(output)} = ${shapeSize(output)} values, over the limit of ${MAX_TENSOR_VALUES} a tensor may hold`,
    );
  if (weights > MAX_TENSOR_VALUES)
    fail(
      ctx,
      undefined,
      `[${kind}] layer ${ctx.index} has ${weights} weights, over the limit of ${MAX_TENSOR_VALUES} a tensor may hold`,
    );
  return {
    index: ctx.index,
    line: ctx.section.line,
    input,
    output,
    stats: stats(weights, params, mults, input, output),
  };
}

/** A weighted layer's parameters in the .weights file: its weights, and per output a bias — with batch norm also scale, mean and variance. */
const paramsOf = (weights: number, outputs: number, batchNormalize: boolean): number =>
  weights + outputs * (batchNormalize ? 4 : 1);

export const builders: { [T in Exclude<SectionType, "net">]: (ctx: Ctx) => Layer } = {
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
    const params = paramsOf(weights, o.filters, o.batch_normalize);
    return {
      kind: "convolutional",
      ...placed(ctx, output, { weights, params, mults: weights * outH * outW }),
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
      ...placed(ctx, output),
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
      ...placed(ctx, output),
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
    // Its input is the concatenation it makes, not the previous layer's output.
    const input = { c: output.c, h: output.h, w: output.w };
    return {
      kind: "route",
      ...placed(ctx, output, { input }),
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
      ...placed(ctx, output),
      stride: s,
    };
  },
  connected(ctx) {
    const o = parseSection(ctx.file, ctx.section, "connected");
    const { input } = ctx;
    const output = { c: o.output, h: 1, w: 1 };
    const weights = shapeSize(input) * o.output;
    const params = paramsOf(weights, o.output, o.batch_normalize);
    return {
      kind: "connected",
      ...placed(ctx, output, { weights, params, mults: weights }),
      batchNormalize: o.batch_normalize,
      activation: o.activation,
    };
  },
  dropout(ctx) {
    parseSection(ctx.file, ctx.section, "dropout");
    const { input } = ctx;
    return {
      kind: "dropout",
      ...placed(ctx, input),
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
      ...placed(ctx, input),
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
      ...placed(ctx, input),
      anchors: o.anchors,
      classes: o.classes,
      coords: o.coords,
      num: o.num,
      softmax: o.softmax,
    };
  },
};

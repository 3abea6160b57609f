/**
 * Fused Tile Partitioning (DeepThings, Zhao et al. TCAD 2018, §III-B) for the early,
 * feature-heavy layers [0, end): the output of layer end−1 is cut into a rows×cols
 * grid, and each tile's input region is traced backwards through the stack, so one
 * device computes the whole stack for its tile without talking to anyone in between.
 *
 * Regions are half-open rectangles. Padding is recorded per tile and per layer and
 * applies only where a window really crosses the map's border; inside the map the
 * neighbouring pixels are part of the region instead.
 */
import { PlanError } from "../core/errors.js";
import type { Layer } from "../dnn/layers.js";
import type { Network } from "../dnn/network.js";
import { routedLayers } from "./units.js";
import { isSpatiallyLocal } from "../dnn/layer-traits.js";

/** Half-open: rows [y0, y1), columns [x0, x1). */
export interface Rect {
  readonly y0: number;
  readonly y1: number;
  readonly x0: number;
  readonly x1: number;
}
export interface Pad {
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  readonly right: number;
}
export interface Grid {
  readonly rows: number;
  readonly cols: number;
}
export interface TileStep {
  readonly layer: number;
  /** The part of the layer's input the tile needs (inside the map). */
  readonly input: Rect;
  /** The part of the layer's output the tile computes. */
  readonly output: Rect;
  /** Window positions outside the map: zeros for convolution, skipped for maxpool. */
  readonly pad: Pad;
}
export interface Tile {
  readonly index: number;
  readonly row: number;
  readonly col: number;
  /** The tile of layer end−1's output. */
  readonly output: Rect;
  /** One step per layer, in forward order. */
  readonly steps: readonly TileStep[];
  /** Elements of the network input this tile needs (scattered to it, halo included). */
  readonly inputElements: number;
  /** Elements of layer end−1's output it computes (gathered from it). */
  readonly outputElements: number;
  /**
   * Feature elements held at once: the largest input region plus output region of
   * any one layer of the stack (a layer's buffers are freed once the next one has run).
   */
  readonly peakElements: number;
  /** Multiplications to compute the tile, halo overlap included. */
  readonly mults: number;
  /** Elements its layers write (every layer's output region, halo included). */
  readonly writes: number;
}

export const rectArea = (r: Rect): number => (r.y1 - r.y0) * (r.x1 - r.x0);

/**
 * The largest FTP boundary `end` allowed: the stack may hold only spatially local
 * layers (convolution, maxpool, dropout), and every layer inside it whose output a
 * route reads later must be the last one (only layer end−1's output is gathered).
 */
export function maxFtpEnd(network: Network): number {
  let end = 0;
  while (end < network.layers.length && isSpatiallyLocal(network.layers[end]!)) end++;
  const routed = [...routedLayers(network)];
  return Math.min(end, ...routed.map((l) => l + 1));
}

/** The grid with rows·cols = devices closest to square (more rows than columns on a tie). */
export function defaultGrid(devices: number): Grid {
  return gridsFor(devices)[0]!;
}

/** Every grid with one tile per device, the most square first (more rows than columns on a tie). */
export function gridsFor(devices: number): Grid[] {
  const grids: Grid[] = [];
  for (let rows = 1; rows <= devices; rows++) if (devices % rows === 0) grids.push({ rows, cols: devices / rows });
  return grids.sort((a, b) => Math.abs(a.rows - a.cols) - Math.abs(b.rows - b.cols) || b.rows - a.rows);
}

/** The sliding window of one layer along one axis: offset before the map and window size. */
function window(layer: Layer): { size: number; stride: number; before: number } {
  switch (layer.kind) {
    case "convolutional":
      return { size: layer.size, stride: layer.stride, before: layer.pad };
    case "maxpool":
      // darknet forward_maxpool_layer: offset = −pad/2 with pad = total padding.
      return { size: layer.size, stride: layer.stride, before: Math.floor(layer.padding / 2) };
    case "dropout":
      return { size: 1, stride: 1, before: 0 };
    default:
      throw new PlanError(`layer ${layer.index}: ${layer.kind} cannot be part of an FTP stack`);
  }
}

/**
 * Output rows [o0, o1) of a layer need input rows [o0·s − before, (o1−1)·s − before + size):
 * darknet's convolution reads input `o·stride − pad + k` for k in [0, size).
 */
function traceAxis(o0: number, o1: number, extent: number, w: { size: number; stride: number; before: number }) {
  const lo = o0 * w.stride - w.before;
  const hi = (o1 - 1) * w.stride - w.before + w.size;
  return {
    i0: Math.max(0, lo),
    i1: Math.min(extent, hi),
    padBefore: Math.max(0, -lo),
    padAfter: Math.max(0, hi - extent),
  };
}

export function traceStep(layer: Layer, output: Rect): TileStep {
  const w = window(layer);
  const ys = traceAxis(output.y0, output.y1, layer.input.h, w);
  const xs = traceAxis(output.x0, output.x1, layer.input.w, w);
  return {
    layer: layer.index,
    input: { y0: ys.i0, y1: ys.i1, x0: xs.i0, x1: xs.i1 },
    output,
    pad: { top: ys.padBefore, bottom: ys.padAfter, left: xs.padBefore, right: xs.padAfter },
  };
}

function stepMults(layer: Layer, step: TileStep): number {
  if (layer.kind !== "convolutional") return 0;
  return rectArea(step.output) * layer.filters * (layer.input.c / layer.groups) * layer.size * layer.size;
}

/** Cut layer end−1's output into the grid and trace every tile back to the network input. */
export function tileStack(network: Network, end: number, grid: Grid): Tile[] {
  const limit = maxFtpEnd(network);
  if (!Number.isInteger(end) || end < 1 || end > limit)
    throw new PlanError(`FTP end ${end} is outside 1..${limit} for ${network.file}`);
  const last = network.layers[end - 1]!.output;
  if (grid.rows > last.h || grid.cols > last.w) {
    throw new PlanError(`a ${grid.rows}×${grid.cols} grid does not fit layer ${end - 1}'s ${last.h}×${last.w} output`);
  }
  // DeepThings' grid: boundaries at floor(i·H/rows), so tiles differ by at most one row.
  const cut = (i: number, parts: number, extent: number) => Math.floor((i * extent) / parts);
  const tiles: Tile[] = [];
  for (let row = 0; row < grid.rows; row++) {
    for (let col = 0; col < grid.cols; col++) {
      const output: Rect = {
        y0: cut(row, grid.rows, last.h),
        y1: cut(row + 1, grid.rows, last.h),
        x0: cut(col, grid.cols, last.w),
        x1: cut(col + 1, grid.cols, last.w),
      };
      const steps: TileStep[] = [];
      let region = output;
      for (let l = end - 1; l >= 0; l--) {
        const step = traceStep(network.layers[l]!, region);
        steps.unshift(step);
        region = step.input;
      }
      const held = (s: TileStep) =>
        rectArea(s.input) * network.layers[s.layer]!.input.c + rectArea(s.output) * network.layers[s.layer]!.output.c;
      tiles.push({
        index: tiles.length,
        row,
        col,
        output,
        steps,
        inputElements: rectArea(region) * network.input.c,
        outputElements: rectArea(output) * last.c,
        peakElements: Math.max(...steps.map(held)),
        mults: steps.reduce((a, s) => a + stepMults(network.layers[s.layer]!, s), 0),
        writes: steps.reduce((a, s) => a + rectArea(s.output) * network.layers[s.layer]!.output.c, 0),
      });
    }
  }
  return tiles;
}

/**
 * Modelled communication of the FTP stage, in elements, on the paper's convention
 * that one of the N devices running tiles already holds the data (so N−1 of N shares travel):
 * scatter every tile's input region (overlapping halos counted once per tile),
 * gather layer end−1's output.
 */
export function ftpCost(network: Network, end: number, tiles: readonly Tile[], devices: number): number {
  const share = (devices - 1) / devices;
  const scatter = tiles.reduce((a, t) => a + t.inputElements, 0);
  const gather = network.layers[end - 1]!.stats.outputs;
  return (scatter + gather) * share;
}

/**
 * Tile t runs on device slot t mod S, S the number of slots that run tiles (DeepThings
 * hands tiles out round robin): slots 0..S−1, so the source (slot 0) always has one.
 */
export const tileSlot = (tile: Pick<Tile, "index">, ftpSlots: number): number => tile.index % ftpSlots;

export interface FtpDevice {
  readonly tiles: number[];
  /** Elements of the network input scattered to it, and of layer end−1's output gathered from it. */
  readonly scatterElements: number;
  readonly gatherElements: number;
  /** Feature elements held at once (its tiles run one after another). */
  readonly peakElements: number;
  readonly mults: number;
  readonly writes: number;
}

/** What each of `devices` slots does in the FTP stage (the first `ftpSlots` run tiles): its tiles, their traffic, memory and work. */
export function ftpDevices(tiles: readonly Tile[], devices: number, ftpSlots = devices): FtpDevice[] {
  return Array.from({ length: devices }, (_, d) => {
    const mine = tiles.filter((t) => tileSlot(t, ftpSlots) === d);
    const sum = (f: (t: Tile) => number) => mine.reduce((a, t) => a + f(t), 0);
    return {
      tiles: mine.map((t) => t.index),
      scatterElements: sum((t) => t.inputElements),
      gatherElements: sum((t) => t.outputElements),
      peakElements: Math.max(0, ...mine.map((t) => t.peakElements)),
      mults: sum((t) => t.mults),
      writes: sum((t) => t.writes),
    };
  });
}

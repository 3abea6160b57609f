/**
 * FTP tiles: structure (the grid covers the map, regions chain, padding only at true
 * borders) and outcome: a tile computed alone from its traced input region, with the
 * traced padding, equals the same crop of darknet's whole-map output.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diff } from "../test/compare.js";
import { cfgPath, readF32, readOracle } from "../test/fixtures.js";
import { foldBatchNorm } from "../dnn/fold.js";
import type { Shape } from "../dnn/layers.js";
import { loadNetwork, type Network } from "../dnn/network.js";
import { onnxRuntime } from "../dnn/onnx/runtime.js";
import type { CompiledStage } from "../dnn/runtime.js";
import { layerOp } from "../dnn/slices.js";
import { readWeights } from "../dnn/weights.js";
import {
  defaultGrid,
  ftpCost,
  ftpDevices,
  gridsFor,
  maxFtpEnd,
  type Pad,
  type Rect,
  rectArea,
  tileStack,
} from "./ftp.js";

const net = (name: string) => loadNetwork(cfgPath(name));

function crop(x: Float32Array, shape: Shape, r: Rect): Float32Array {
  const out = new Float32Array(shape.c * rectArea(r));
  let at = 0;
  for (let c = 0; c < shape.c; c++) {
    for (let y = r.y0; y < r.y1; y++) {
      const row = (c * shape.h + y) * shape.w;
      out.set(x.subarray(row + r.x0, row + r.x1), at);
      at += r.x1 - r.x0;
    }
  }
  return out;
}

describe("FTP boundaries and grids", () => {
  it("stops before the first non-local layer and at the earliest layer a route reads", () => {
    expect(maxFtpEnd(net("yolov2"))).toBe(17); // route 25 reads layer 16
    expect(maxFtpEnd(net("yolov2-mini"))).toBe(7); // route 11 reads layer 6
    expect(maxFtpEnd(net("yolov2-tiny"))).toBe(15); // region 15
    expect(maxFtpEnd(net("fc-mini"))).toBe(4); // connected 4
  });
  it("picks the most square grid with one tile per device, and lists the others after it", () => {
    expect([1, 4, 6, 7, 9].map(defaultGrid)).toEqual([
      { rows: 1, cols: 1 },
      { rows: 2, cols: 2 },
      { rows: 3, cols: 2 },
      { rows: 7, cols: 1 },
      { rows: 3, cols: 3 },
    ]);
    expect(gridsFor(6).map((g) => `${g.rows}x${g.cols}`)).toEqual(["3x2", "2x3", "6x1", "1x6"]);
  });
  it("refuses a boundary past the limit and a grid larger than the map", () => {
    expect(() => tileStack(net("yolov2"), 18, { rows: 2, cols: 2 })).toThrow("FTP end 18 is outside 1..17");
    expect(() => tileStack(net("fc-mini"), 4, { rows: 9, cols: 1 })).toThrow(
      "a 9×1 grid does not fit layer 3's 8×8 output",
    );
  });
});

describe.each([
  ["yolov2", 17, { rows: 3, cols: 2 }],
  ["yolov2", 16, { rows: 3, cols: 3 }],
  ["yolov2", 16, { rows: 5, cols: 5 }],
  ["yolov2", 12, { rows: 5, cols: 5 }],
  ["yolov2-tiny", 15, { rows: 4, cols: 3 }],
  ["yolov2-mini", 7, { rows: 2, cols: 3 }],
] as const)("%s tiles over layers [0, %i) on a %o grid", (name, end, grid) => {
  const network: Network = net(name);
  const tiles = tileStack(network, end, grid);
  const last = network.layers[end - 1]!.output;

  it("cover layer end−1's output exactly once", () => {
    const hits = new Uint8Array(last.h * last.w);
    for (const t of tiles)
      for (let y = t.output.y0; y < t.output.y1; y++)
        for (let x = t.output.x0; x < t.output.x1; x++) hits[y * last.w + x]!++;
    expect([...new Set(hits)]).toEqual([1]);
    expect(tiles).toHaveLength(grid.rows * grid.cols);
  });

  it("chain their regions and pad only where a window leaves the map", () => {
    for (const t of tiles) {
      t.steps.forEach((s, k) => {
        const layer = network.layers[s.layer]!;
        if (k > 0) expect(s.input).toEqual(t.steps[k - 1]!.output);
        expect(s.layer).toBe(k);
        if (s.pad.top) expect(s.input.y0).toBe(0);
        if (s.pad.left) expect(s.input.x0).toBe(0);
        if (s.pad.bottom) expect(s.input.y1).toBe(layer.input.h);
        if (s.pad.right) expect(s.input.x1).toBe(layer.input.w);
        // every output row's window fits the padded region exactly
        if (layer.kind === "convolutional" || layer.kind === "maxpool") {
          const span = (o: number, p0: number, p1: number, i: number) =>
            (o - 1) * layer.stride + layer.size === i + p0 + p1;
          expect(span(s.output.y1 - s.output.y0, s.pad.top, s.pad.bottom, s.input.y1 - s.input.y0)).toBe(true);
          expect(span(s.output.x1 - s.output.x0, s.pad.left, s.pad.right, s.input.x1 - s.input.x0)).toBe(true);
        }
      });
    }
  });

  it("cost the bare input and output with one tile, more once halos overlap", () => {
    const bare =
      (network.input.c * network.input.h * network.input.w + network.layers[end - 1]!.stats.outputs) * (5 / 6);
    expect(ftpCost(network, end, tileStack(network, end, { rows: 1, cols: 1 }), 6)).toBeCloseTo(bare, 6);
    expect(ftpCost(network, end, tiles, 6)).toBeGreaterThan(bare);
  });
});

/**
 * Independent of ftp.ts: which pixels of each layer's input can influence a tile, found
 * by running darknet's own read loops over every output pixel of the tile and marking
 * what they touch (im2col.c im2col_get_pixel: row = oy·stride + ky − pad; maxpool_layer.c
 * forward_maxpool_layer: cur_h = −padding/2 + oy·stride + ky), plus how far any read
 * falls outside the map on each side.
 */
function bruteForceReads(layer: Network["layers"][number], outputMask: Uint8Array): { mask: Uint8Array; pad: Pad } {
  const { h: H, w: W } = layer.input;
  const { w: OW } = layer.output;
  const mask = new Uint8Array(H * W);
  const pad = { top: 0, bottom: 0, left: 0, right: 0 };
  const [size, stride, offset] =
    layer.kind === "convolutional"
      ? [layer.size, layer.stride, -layer.pad]
      : layer.kind === "maxpool"
        ? [layer.size, layer.stride, -Math.trunc(layer.padding / 2)]
        : [1, 1, 0];
  outputMask.forEach((on, o) => {
    if (!on) return;
    const [oy, ox] = [Math.floor(o / OW), o % OW];
    for (let ky = 0; ky < size; ky++) {
      for (let kx = 0; kx < size; kx++) {
        const [y, x] = [oy * stride + ky + offset, ox * stride + kx + offset];
        pad.top = Math.max(pad.top, -y);
        pad.left = Math.max(pad.left, -x);
        pad.bottom = Math.max(pad.bottom, y - H + 1);
        pad.right = Math.max(pad.right, x - W + 1);
        if (y >= 0 && y < H && x >= 0 && x < W) mask[y * W + x] = 1;
      }
    }
  });
  return { mask, pad };
}

/** The rectangle a mask fills, or null when the marked pixels are not exactly a rectangle. */
function filledRect(mask: Uint8Array, W: number): Rect | null {
  let [y0, y1, x0, x1] = [Infinity, -1, Infinity, -1];
  mask.forEach((on, i) => {
    if (!on) return;
    const [y, x] = [Math.floor(i / W), i % W];
    [y0, y1, x0, x1] = [Math.min(y0, y), Math.max(y1, y + 1), Math.min(x0, x), Math.max(x1, x + 1)];
  });
  const rect = { y0, y1, x0, x1 };
  return mask.reduce((a, on) => a + on, 0) === rectArea(rect) ? rect : null;
}

describe.each([
  { rows: 3, cols: 3 },
  { rows: 5, cols: 5 },
])("YOLOv2's first 16 layers on a %o grid, against a brute-force trace", (grid) => {
  const network = net("yolov2");
  const tiles = tileStack(network, 16, grid);

  it("every layer's input region is exactly the pixels that can influence the tile, with the same border padding", () => {
    for (const tile of tiles) {
      const last = network.layers[15]!.output;
      let mask: Uint8Array = new Uint8Array(last.h * last.w);
      for (let y = tile.output.y0; y < tile.output.y1; y++)
        for (let x = tile.output.x0; x < tile.output.x1; x++) mask[y * last.w + x] = 1;
      for (let l = 15; l >= 0; l--) {
        const layer = network.layers[l]!;
        const step = tile.steps[l]!;
        expect(filledRect(mask, layer.output.w), `tile ${tile.index}, layer ${l} output`).toEqual(step.output);
        const reads = bruteForceReads(layer, mask);
        expect(filledRect(reads.mask, layer.input.w), `tile ${tile.index}, layer ${l} input`).toEqual(step.input);
        expect(reads.pad, `tile ${tile.index}, layer ${l} padding`).toEqual(step.pad);
        mask = reads.mask;
      }
      expect(tile.inputElements).toBe(rectArea(tile.steps[0]!.input) * 3);
    }
  });

  it("hands tiles out round robin, counting each tile's halo in what it is sent", () => {
    const devices = ftpDevices(tiles, 6);
    expect(devices.flatMap((d) => d.tiles).sort((a, b) => a - b)).toEqual(tiles.map((t) => t.index));
    expect(devices[0]!.tiles).toEqual(tiles.filter((t) => t.index % 6 === 0).map((t) => t.index));
    const scattered = devices.reduce((a, d) => a + d.scatterElements, 0);
    expect(scattered).toBeGreaterThan(network.input.c * network.input.h * network.input.w); // halos overlap
    expect(devices.reduce((a, d) => a + d.gatherElements, 0)).toBe(network.layers[15]!.stats.outputs); // outputs do not
    for (const d of devices) expect(d.peakElements).toBe(Math.max(...d.tiles.map((i) => tiles[i]!.peakElements)));
  });
});

describe("a tile computed alone equals darknet's whole map", () => {
  const runtime = onnxRuntime();
  const stages: CompiledStage[] = [];
  afterAll(async () => Promise.all(stages.map((s) => s.release())));

  async function check(oracleName: string, end: number, from: number, grid: { rows: number; cols: number }) {
    const oracle = readOracle(oracleName);
    const network = loadNetwork(cfgPath(oracle.cfg.replace(/\.cfg$/, "")));
    const weights = readWeights(join(oracle.dir, oracle.weights), network);
    const file = (i: number) => join(oracle.dir, `layer${String(i).padStart(2, "0")}.f32`);
    const input = from === 0 ? readF32(join(oracle.dir, oracle.input_file)) : readF32(file(from - 1));
    const inShape = network.layers[from]!.input;
    const want = readF32(file(end - 1));
    for (const tile of tileStack(network, end, grid)) {
      const steps = tile.steps.slice(from);
      const ops = steps.map((s) => {
        const layer = network.layers[s.layer]!;
        const raw = weights.layers[s.layer];
        const params = raw && foldBatchNorm({ biases: raw.biases.slice(), weights: raw.weights.slice(), bn: raw.bn });
        return layerOp(layer, params, s.pad);
      });
      const region = steps[0]!.input;
      const stage = await runtime.compile({
        input: { c: inShape.c, h: region.y1 - region.y0, w: region.x1 - region.x0 },
        ops,
      });
      stages.push(stage);
      const [got] = await stage.run(crop(input, inShape, region));
      const d = diff(got!, crop(want, network.layers[end - 1]!.output, tile.output));
      expect(
        d.relative,
        `tile ${tile.index} (${JSON.stringify(tile.output)}): max |a−b| = ${d.maxAbs}`,
      ).toBeLessThanOrEqual(1e-5);
    }
  }

  it.each([
    { rows: 2, cols: 3 },
    { rows: 3, cols: 3 },
    { rows: 5, cols: 4 },
  ])("yolov2-mini layers 0–6 (3×3 conv, 1×1 conv, 2×2 maxpool) on a %o grid", (grid) =>
    check("yolov2-mini-s7-dog", 7, 0, grid),
  );

  it("yolov2-tiny layers 10–11 (the stride-1 maxpool with its one-sided padding) on a 3×4 grid", () =>
    check("yolov2-tiny-s1-dog", 12, 10, { rows: 3, cols: 4 }));
});

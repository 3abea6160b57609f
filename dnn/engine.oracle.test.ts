/**
 * The engine against darknet itself: for every oracle folder, run from its input.f32
 * and compare every kept layer with darknet's output.
 * Tolerance: max |a − b| ≤ 2e-5 · max(1, max |ref|), the README's claim: float32 sums in
 * another order than darknet's (measured at most 4.1e-6, yolov2-tiny layer 13).
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diff } from "../test/compare.js";
import { cfgPath, ORACLES, readF32, readOracle } from "../test/fixtures.js";
import { createEngine, type Engine } from "./engine.js";
import { loadNetwork } from "./network.js";
import { readWeights } from "./weights.js";

const TOLERANCE = 2e-5;

const engines: Engine[] = [];
afterAll(async () => Promise.all(engines.map((e) => e.release())));

describe.each(ORACLES)("oracle %s", (name) => {
  const oracle = readOracle(name);
  const network = loadNetwork(cfgPath(oracle.cfg.replace(/\.cfg$/, "")));

  it.each(["layer", "chain"] as const)("matches darknet at every kept layer (%s grouping)", async (grouping) => {
    const weights = readWeights(join(oracle.dir, oracle.weights), network);
    const engine = await createEngine(network, weights, { keepAll: true, grouping });
    engines.push(engine);
    const { layers } = await engine.forward(readF32(join(oracle.dir, oracle.input_file)));
    let worst = { layer: -1, relative: 0 };
    for (const ref of oracle.layers) {
      const out = layers[ref.index];
      expect(out, `layer ${ref.index} output`).toBeDefined();
      expect(out!.length, `layer ${ref.index} size`).toBe(ref.outputs);
      if (!ref.file) continue;
      const d = diff(out!, readF32(join(oracle.dir, ref.file)));
      expect(
        d.relative,
        `layer ${ref.index} (${ref.type}): max |a−b| ${d.maxAbs} vs max |ref| ${d.maxRef}`,
      ).toBeLessThanOrEqual(TOLERANCE);
      if (d.relative >= worst.relative) worst = { layer: ref.index, relative: d.relative };
    }
    console.log(
      `${name} (${grouping}): worst layer ${worst.layer}, max|a−b|/max(1,max|ref|) = ${worst.relative.toExponential(2)}`,
    );
  });
});

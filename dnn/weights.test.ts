import { mkdtempSync, readFileSync, statSync, truncateSync, appendFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WeightsError } from "../core/errors.js";
import { cfgPath, readOracle } from "../test/fixtures.js";
import { loadNetwork } from "./network.js";
import { writeSyntheticWeights } from "./synthetic.js";
import { expectedWeightsBytes, openWeights, readWeights } from "./weights.js";

const tmp = mkdtempSync(join(tmpdir(), "edgefuse-weights-"));
const fcMini = loadNetwork(cfgPath("fc-mini"));
const oracle = readOracle("fc-mini-s3-dog");
const oracleWeights = join(oracle.dir, oracle.weights);

describe("darknet .weights", () => {
  it("reads the header and every layer in darknet's order", () => {
    const w = readWeights(oracleWeights, fcMini);
    expect(w.header).toMatchObject({ major: 0, minor: 2, bytes: 20 });
    const conv0 = w.layers[0]!;
    expect([conv0.biases.length, conv0.bn?.scales.length, conv0.weights.length]).toEqual([32, 32, 3 * 3 * 3 * 32]);
    const fc = w.layers[4]!;
    expect([fc.biases.length, fc.weights.length, fc.bn]).toEqual([1024, 4096 * 1024, undefined]);
    expect(w.layers[1]).toBeUndefined(); // maxpool
    // The last float of the file is the last connected layer's last weight (no BN there).
    const bytes = readFileSync(oracleWeights);
    expect(w.layers[8]!.weights.at(-1)).toBe(bytes.readFloatLE(bytes.length - 4));
  });

  it("rejects a truncated file with expected and actual byte counts", () => {
    const path = join(tmp, "short.weights");
    copyFileSync(oracleWeights, path);
    truncateSync(path, statSync(path).size - 8);
    const want = expectedWeightsBytes(fcMini);
    expect(() => openWeights(path, fcMini)).toThrow(
      new WeightsError(
        path,
        `too short for ${fcMini.file}: expected ${want} bytes (20-byte header + ${(want - 20) / 4} float32 parameters), got ${want - 8} bytes`,
      ),
    );
  });

  it("rejects an oversized file", () => {
    const path = join(tmp, "long.weights");
    copyFileSync(oracleWeights, path);
    appendFileSync(path, Buffer.alloc(4));
    expect(() => openWeights(path, fcMini)).toThrow(/too long for .*got \d+ bytes/);
  });

  it("rejects weights that belong to another network", () => {
    expect(() => openWeights(oracleWeights, loadNetwork(cfgPath("yolov2-mini")))).toThrow(
      /too long for .*yolov2-mini\.cfg/,
    );
  });

  it("rejects a file shorter than a header, and a missing file", () => {
    const path = join(tmp, "tiny.weights");
    copyFileSync(oracleWeights, path);
    truncateSync(path, 10);
    expect(() => openWeights(path, fcMini)).toThrow(`${path}: too short for a darknet header: 10 bytes`);
    expect(() => openWeights(join(tmp, "none.weights"), fcMini)).toThrow(/cannot open: ENOENT/);
  });

  it("writes seeded synthetic weights that load back, same seed same bytes", () => {
    const [a, b, c] = ["a", "b", "c"].map((n) => join(tmp, `${n}.weights`));
    expect(writeSyntheticWeights(fcMini, 5, a!)).toBe(expectedWeightsBytes(fcMini));
    writeSyntheticWeights(fcMini, 5, b!);
    writeSyntheticWeights(fcMini, 6, c!);
    expect(readFileSync(a!).equals(readFileSync(b!))).toBe(true);
    expect(readFileSync(a!).equals(readFileSync(c!))).toBe(false);
    const w = readWeights(a!, fcMini);
    const variance = w.layers[0]!.bn!.variance;
    expect(Math.min(...variance)).toBeGreaterThan(0); // a zero variance would blow up batch norm
  });
});

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WeightsError } from "../core/errors.js";
import { cfgPath } from "../test/fixtures.js";
import { loadNetwork } from "./network.js";
import { cachedSyntheticWeights, writeSyntheticWeights } from "./synthetic.js";
import { isSyntheticWeights, isWeighted, readWeights, readWeightsHeader, SYNTHETIC_SEEN } from "./weights.js";

const tmp = mkdtempSync(join(tmpdir(), "edgefuse-synthetic-"));
const fcMini = loadNetwork(cfgPath("fc-mini"));

/** A copy of `path` with its 64-bit `seen` set to `seen`: what generators before the marker wrote, for seen 0. */
function withSeen(path: string, seen: number, out: string): string {
  const bytes = readFileSync(path);
  bytes.writeBigUInt64LE(BigInt(seen), 12);
  writeFileSync(out, bytes);
  return out;
}

describe("the synthetic-weights marker", () => {
  const marked = join(tmp, "marked.weights");
  writeSyntheticWeights(fcMini, 5, marked);

  it("is written into the header's `seen` and read back", () => {
    expect(readWeightsHeader(marked)).toMatchObject({
      major: 0,
      minor: 2,
      revision: 0,
      seen: SYNTHETIC_SEEN,
      bytes: 20,
    });
    expect(readFileSync(marked).subarray(12, 20).toString("latin1")).toBe("synth\0\0\0");
    expect(isSyntheticWeights(marked)).toBe(true);
    expect(isSyntheticWeights(readWeightsHeader(marked))).toBe(true);
  });

  it("changes no weight: the file loads exactly as the same file without it", () => {
    const plain = withSeen(marked, 0, join(tmp, "plain.weights"));
    expect(isSyntheticWeights(plain)).toBe(false);
    const [a, b] = [readWeights(marked, fcMini), readWeights(plain, fcMini)];
    expect(a.header.seen).not.toBe(b.header.seen);
    expect({ ...a.header, seen: 0 }).toEqual(b.header);
    // Byte for byte (toEqual on 4M-float arrays would take a minute).
    const bytesOf = (w: typeof a) =>
      w.layers.map(
        (l) =>
          l &&
          [l.biases, l.weights, l.bn?.scales, l.bn?.mean, l.bn?.variance].map(
            (x) => x && Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("base64"),
          ),
      );
    expect(bytesOf(a)).toEqual(bytesOf(b));
    expect(a.layers.filter(Boolean).length).toBe(fcMini.layers.filter(isWeighted).length);
  });

  it("is not seen in a trained file's `seen`, nor in an old 32-bit one", () => {
    expect(isSyntheticWeights(withSeen(marked, 32013312, join(tmp, "trained.weights")))).toBe(false);
    const old = Buffer.alloc(16);
    old.writeInt32LE(1, 4); // version 0.1: `seen` is 32 bits
    old.writeUInt32LE(SYNTHETIC_SEEN % 2 ** 32, 12);
    writeFileSync(join(tmp, "v01.weights"), old);
    expect(readWeightsHeader(join(tmp, "v01.weights")).bytes).toBe(16);
    expect(isSyntheticWeights(join(tmp, "v01.weights"))).toBe(false);
  });

  it("reading the header of a missing or short file fails with the path", () => {
    expect(() => isSyntheticWeights(join(tmp, "none.weights"))).toThrow(WeightsError);
    writeFileSync(join(tmp, "short.weights"), Buffer.alloc(8));
    expect(() => isSyntheticWeights(join(tmp, "short.weights"))).toThrow(
      /short\.weights: too short for a darknet header: 8 bytes/,
    );
  });

  it("the cache marks a file it generated before the marker existed, changing nothing else", () => {
    const cache = join(tmp, "cache");
    const { path, created } = cachedSyntheticWeights(fcMini, 5, cache);
    expect(created).toBe(true);
    expect(readFileSync(path).equals(readFileSync(marked))).toBe(true);
    withSeen(marked, 0, path);
    expect(cachedSyntheticWeights(fcMini, 5, cache)).toEqual({ path, created: false });
    expect(readFileSync(path).equals(readFileSync(marked))).toBe(true);
  });

  it("the cache leaves a file alone that it did not write", () => {
    const cache = join(tmp, "cache-trained");
    const path = cachedSyntheticWeights(fcMini, 5, cache).path;
    const trained = readFileSync(withSeen(marked, 32013312, path));
    cachedSyntheticWeights(fcMini, 5, cache);
    expect(readFileSync(path).equals(trained)).toBe(true);
  });
});

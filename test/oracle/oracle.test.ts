/**
 * The reference outputs themselves: made by darknet from the project's own seeded
 * weights, cached under a key of their inputs, and refused when darknet did not see
 * the image the engine sees.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadNetwork } from "../../dnn/network.js";
import { writeSyntheticWeights } from "../../dnn/synthetic.js";
import { cfgPath, imagePath, ORACLES, readF32, readOracle } from "../fixtures.js";
import { findDarknet, MissingToolError, sha256 } from "./darknet.js";
import { parseOracleFlags } from "./flags.js";
import { ensureOracle, makeOracle, oracleKey } from "./generate.js";
import { ORACLE_SPECS } from "./specs.js";

const scratchDirs: string[] = [];
const scratch = () => {
  const dir = mkdtempSync(join(tmpdir(), "edgefuse-oracle-"));
  scratchDirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of scratchDirs) rmSync(d, { recursive: true, force: true });
});

describe("the suites' references", () => {
  it.each(ORACLES)("%s is cached: made again only when its inputs change", (name) => {
    expect(ensureOracle(name)).toEqual({ dir: readOracle(name).dir, created: false });
  });

  it.each(ORACLES)("%s holds the weights `edgefuse weights --seed` writes, and one output per layer", (name) => {
    const spec = ORACLE_SPECS[name];
    const oracle = readOracle(name);
    const network = loadNetwork(cfgPath(spec.cfg));
    const fresh = join(scratch(), "w.weights");
    writeSyntheticWeights(network, spec.seed, fresh);
    expect(oracle.weights_sha256).toBe(sha256(readFileSync(fresh)));
    expect(sha256(readFileSync(join(oracle.dir, oracle.weights)))).toBe(oracle.weights_sha256);
    expect(oracle.weights_seed).toBe(spec.seed);
    expect(oracle.layers.map((l) => l.index)).toEqual(network.layers.map((_, i) => i));
    for (const l of oracle.layers)
      expect(readF32(join(oracle.dir, l.file!)).length, `layer ${l.index}`).toBe(l.outputs);
  });
});

describe("makeOracle", () => {
  const fcMini = { cfg: cfgPath("fc-mini"), image: imagePath("dog.jpg") };

  it("keys a folder by what it is made from", () => {
    const darknet = findDarknet();
    const key = oracleKey({ ...fcMini, seed: 3 }, darknet);
    expect(oracleKey({ ...fcMini, seed: 3 }, darknet)).toBe(key);
    expect(oracleKey({ ...fcMini, seed: 4 }, darknet)).not.toBe(key);
    expect(oracleKey({ ...fcMini, image: imagePath("horses.jpg"), seed: 3 }, darknet)).not.toBe(key);
    expect(oracleKey({ cfg: cfgPath("yolov2-mini"), image: fcMini.image, seed: 3 }, darknet)).not.toBe(key);
  });

  it("makes a reference for another seed: same input, other weights, other outputs", () => {
    const out = join(scratch(), "fc-mini-s4");
    const made = makeOracle({ ...fcMini, seed: 4, out });
    const suites = readOracle("fc-mini-s3-dog");
    expect(made.weights).toBe("fc-mini-s4.weights");
    expect(made.weights_sha256).not.toBe(suites.weights_sha256);
    expect(readF32(join(out, made.input_file))).toEqual(readF32(join(suites.dir, suites.input_file)));
    const last = made.layers.at(-1)!;
    expect(readF32(join(out, last.file!))).not.toEqual(readF32(join(suites.dir, last.file!)));
  });

  it("refuses an image darknet turns by its EXIF orientation, which the engine ignores", () => {
    // Debian's darknet is built with OpenCV, whose imread applies EXIF orientation:
    // dog.jpg tagged "rotate 90° CW" comes out 576×768 there and 768×576 in the engine.
    const dir = scratch();
    const dog = Buffer.from(readFileSync(imagePath("dog.jpg")));
    const tag = dog.indexOf(Buffer.from([0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01])); // Orientation, SHORT, count 1
    dog[tag + 9] = 6;
    writeFileSync(join(dir, "turned.jpg"), dog);
    const opencv = readFileSync(findDarknet().library).includes("load_image_cv");
    const make = () => makeOracle({ ...fcMini, image: join(dir, "turned.jpg"), seed: 3, out: join(dir, "out") });
    if (opencv)
      expect(make).toThrow(
        /darknet decoded it as 576×768, the engine as 768×576: darknet applied the EXIF orientation/,
      );
    else expect(make().image_size).toEqual({ w: 768, h: 576, c: 3 }); // stb_image ignores it, as the engine does
  });

  it("names the package to install when darknet is missing, in one line", () => {
    expect(() => findDarknet("/nonexistent/darknet")).toThrow(MissingToolError);
    expect(() => findDarknet("/nonexistent/darknet")).toThrow(
      /^darknet's reference outputs need Debian's darknet package \(.*\): apt-get install darknet/,
    );
    try {
      findDarknet("/nonexistent/darknet");
    } catch (err) {
      expect((err as Error).stack).not.toContain("\n");
    }
  });
});

describe("npm run oracle flags", () => {
  it("parses a full request", () => {
    expect(parseOracleFlags(["--cfg", "a.cfg", "--seed", "12", "--image", "b.jpg", "--out", "d"])).toEqual({
      cfg: "a.cfg",
      seed: 12,
      image: "b.jpg",
      out: "d",
    });
  });

  it.each([
    [["--cfg", "a.cfg", "--image", "b.jpg", "--out", "d"], /^--seed: is required \(usage: npm run oracle/],
    [["--cfg", "a.cfg", "--seed=-1", "--image", "b.jpg", "--out", "d"], /^--seed: expected a non-negative integer/],
    [["--cfg", "a.cfg", "--seed", "4294967296", "--image", "b.jpg", "--out", "d"], /^--seed: is over 2\^32 - 1/],
    [
      ["--cfg", "a.cfg", "--seed", "1", "--image", "b.jpg", "--out", "d", "--weights", "w"],
      /Unknown option '--weights'/,
    ],
  ])("refuses %j", (argv, message) => {
    expect(() => parseOracleFlags(argv)).toThrow(message);
  });
});

import { describe, expect, it } from "vitest";
import { CfgError } from "../core/errors.js";
import { cfgPath, readOracle, ORACLES } from "../test/fixtures.js";
import { parseCfgText } from "./cfg.js";
import { shapeSize } from "./layers.js";
import { buildNetwork, loadNetwork } from "./network.js";

const net = (body: string) => buildNetwork(parseCfgText(`[net]\nwidth=8\nheight=8\nchannels=3\n${body}`, "t.cfg"));
const cfgError = (body: string) => {
  try {
    net(body);
  } catch (err) {
    expect(err).toBeInstanceOf(CfgError);
    return err as CfgError;
  }
  throw new Error("expected a CfgError");
};

describe("darknet cfg → network", () => {
  it.each(ORACLES)("shapes match darknet's for %s", (name) => {
    const oracle = readOracle(name);
    const network = loadNetwork(cfgPath(oracle.cfg.replace(/\.cfg$/, "")));
    expect(network.layers.map((l) => l.kind)).toEqual(oracle.layers.map((l) => l.type));
    for (const ref of oracle.layers)
      expect(shapeSize(network.layers[ref.index]!.output), `layer ${ref.index}`).toBe(ref.outputs);
    for (const ref of oracle.layers.filter((l) => l.out_c > 0)) {
      expect(network.layers[ref.index]!.output, `layer ${ref.index}`).toEqual({
        c: ref.out_c,
        h: ref.out_h,
        w: ref.out_w,
      });
    }
  });

  it("counts YOLOv2's 50.98 M parameters (204 MB as float32) and its multiplications", () => {
    const n = loadNetwork(cfgPath("yolov2"));
    expect(n.totalParams).toBe(50_983_561);
    expect(n.layers.length).toBe(32);
    // darknet prints 62.9 BFLOPs (2 per multiply-add) for YOLOv2 608
    expect((2 * n.totalMults) / 1e9).toBeCloseTo(62.9, 0);
  });

  it("gives the paper's Q, R, M, K for a connected layer and a conv layer", () => {
    const n = net(
      "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n[connected]\noutput=5\nactivation=linear",
    );
    expect(n.layers[0]!.stats).toEqual({
      weights: 4 * 3 * 9,
      params: 4 * 3 * 9 + 4,
      mults: 4 * 3 * 9 * 64,
      inputs: 3 * 64,
      outputs: 4 * 64,
    });
    expect(n.layers[1]!.stats).toEqual({
      weights: 256 * 5,
      params: 256 * 5 + 5,
      mults: 256 * 5,
      inputs: 256,
      outputs: 5,
    });
  });

  it("follows darknet's maxpool size rule (size 2 stride 1 keeps the size)", () => {
    const n = net("[maxpool]\nsize=2\nstride=1\n[maxpool]\nsize=2\nstride=2\n[maxpool]\nsize=3\nstride=2\npadding=0");
    expect(n.layers.map((l) => [l.output.h, l.output.w])).toEqual([
      [8, 8],
      [4, 4],
      [1, 1],
    ]);
  });

  it("resolves relative and absolute route layers", () => {
    const n = net(
      "[convolutional]\nfilters=2\nsize=1\nactivation=linear\n[convolutional]\nfilters=3\nsize=1\nactivation=linear\n[route]\nlayers=-1,0",
    );
    expect(n.layers[2]).toMatchObject({ kind: "route", layers: [1, 0], output: { c: 5, h: 8, w: 8 } });
  });

  describe("errors name the file, line and key", () => {
    it("unknown section", () => {
      const e = cfgError("[convolutional]\nfilters=2\nsize=1\n\n[yolo]\nmask=0");
      expect(e.message).toBe(
        "t.cfg:9: unknown section [yolo] (supported: convolutional, maxpool, avgpool, route, reorg, connected, dropout, softmax, region)",
      );
    });
    it("missing key", () => {
      const e = cfgError("[convolutional]\nsize=3");
      expect([e.line, e.key]).toEqual([5, "filters"]);
      expect(e.message).toMatch(/^t\.cfg:5 \[filters\]: missing required key/);
    });
    it("malformed number", () => {
      const e = cfgError("[convolutional]\nfilters=3x\nsize=3");
      expect(e.message).toBe("t.cfg:6 [filters]: expected an integer, got '3x'");
    });
    it("unknown activation", () => {
      expect(cfgError("[convolutional]\nfilters=3\nsize=3\nactivation=swish").message).toMatch(
        /^t\.cfg:8 \[activation\]: /,
      );
    });
    it("a route to a later layer", () => {
      expect(cfgError("[route]\nlayers=3").message).toMatch(/^t\.cfg:6 \[layers\]: entry 3 points at layer 3/);
    });
    it("a line that is not key=value", () => {
      expect(() => parseCfgText("[net]\nwidth 8\n", "bad.cfg")).toThrow(
        "bad.cfg:2: expected 'key=value', got 'width 8'",
      );
    });
    it("a region whose input does not fit num × (coords + 1 + classes)", () => {
      expect(cfgError("[convolutional]\nfilters=10\nsize=1\n[region]\nanchors=1,1\nnum=1\nclasses=80").message).toMatch(
        /region needs num×\(coords\+1\+classes\)/,
      );
    });
    it("a missing file", () => {
      expect(() => loadNetwork("/nonexistent/x.cfg")).toThrow("/nonexistent/x.cfg:0: cannot read: ENOENT");
    });
  });

  describe("limits: a hostile cfg is refused, line and limit named, before anything is allocated", () => {
    const sized = (w: string, h = "8", c = "3") =>
      buildNetwork(parseCfgText(`[net]\nwidth=${w}\nheight=${h}\nchannels=${c}\n[dropout]`, "t.cfg"));
    const refusal = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(CfgError);
        expect((err as Error).message).not.toContain("\n");
        return (err as Error).message;
      }
      throw new Error("expected a CfgError");
    };

    it("an integer past 2^53 − 1, which a double would round", () => {
      expect(refusal(() => sized("99999999999999999999999"))).toBe(
        "t.cfg:2 [width]: must be an integer within ±9007199254740991, got '99999999999999999999999'",
      );
      // 2^53 − 1 itself reads exactly, and is then refused as an input too large.
      expect(refusal(() => sized("9007199254740991", "1", "1"))).toMatch(
        /^t\.cfg:1: the input width × height × channels = 1×1×9007199254740991 = 9007199254740991 values, over the limit/,
      );
    });

    it("a number that is not finite, or not an integer", () => {
      expect(refusal(() => net("[dropout]\nprobability=1e999"))).toBe(
        "t.cfg:6 [probability]: must be a finite number, got '1e999'",
      );
      expect(refusal(() => sized("608.5"))).toBe("t.cfg:2 [width]: expected an integer, got '608.5'");
    });

    it("an input of more values than a tensor may hold", () => {
      expect(refusal(() => sized("100000", "100000"))).toBe(
        "t.cfg:1: the input width × height × channels = 3×100000×100000 = 30000000000 values, over the limit of 268435456 a tensor may hold",
      );
    });

    it("a layer whose output is larger than that: width=100000 and 1024 filters", () => {
      const cfg = "[net]\nwidth=100000\nheight=8\nchannels=3\n[convolutional]\nfilters=1024\nsize=1\nactivation=linear";
      expect(refusal(() => buildNetwork(parseCfgText(cfg, "t.cfg")))).toBe(
        "t.cfg:5: [convolutional] layer 0 outputs 1024×8×100000 = 819200000 values, over the limit of 268435456 a tensor may hold",
      );
    });

    it("a layer with more weights than that", () => {
      expect(refusal(() => net("[connected]\noutput=2000000\nactivation=linear"))).toBe(
        "t.cfg:5: [connected] layer 0 has 384000000 weights, over the limit of 268435456 a tensor may hold",
      );
    });

    it("more sections than a cfg may hold: parsing stops at the first one too many", () => {
      const text = `[net]\nwidth=8\nheight=8\nchannels=3\n${"[dropout]\n".repeat(1_000_000)}`;
      expect(refusal(() => parseCfgText(text, "t.cfg"))).toBe(
        "t.cfg:1005: more than 1001 sections ([net] and 1000 layers), the limit of a cfg",
      );
      expect(net("[dropout]\n".repeat(1000)).layers.length).toBe(1000);
    });
  });
});

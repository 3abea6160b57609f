import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { readNames } from "../detect/names.js";
import { decodeImage } from "../image/decode.js";
import { FASHION } from "./fashion.js";
import { IDX_TEST, labelOf, openLabelledSet } from "./labelled.js";

const NAMES = ["tee", "trouser", "shirt"];
const dir = mkdtempSync(join(tmpdir(), "labelled-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An idx file: magic, type 0x08, the dimensions, then the bytes. */
function idx(dims: number[], data: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  for (const [i, d] of dims.entries()) header.writeUInt32BE(d, 4 + 4 * i);
  return gzipSync(Buffer.concat([header, Buffer.from(data)]));
}

describe("labels from file names", () => {
  it("finds the one class name a file name contains", () => {
    expect(labelOf("/data/trouser/00012-shirt.png", NAMES)).toBe(2); // the folder does not count
    expect(labelOf("00001-tee.png", NAMES)).toBe(0);
  });

  it("refuses a name with none or several class names, naming the file", () => {
    expect(() => labelOf("00003-coat.png", NAMES)).toThrow("00003-coat.png: its file name contains none of the 3");
    expect(() => labelOf("teeshirt.png", NAMES)).toThrow("several class names (tee, shirt)");
  });
});

describe("openLabelledSet", () => {
  it("reads the shipped test folder: 500 images, every label from its name", () => {
    const set = openLabelledSet(FASHION.testImages, readNames(FASHION.names));
    expect(set).toHaveLength(500);
    expect(set[0]!.name).toMatch(/00000-boot\.png$/);
    expect(set[0]!.label).toBe(9);
    expect(decodeImage(set[0]!.bytes())).toMatchObject({ w: 28, h: 28, c: 3 });
  });

  it("reads a list file, its paths relative to the list", () => {
    const list = join(dir, "some.list");
    writeFileSync(list, `${FASHION.testImages}/00001-pullover.png\n\n../${dir.split("/").pop()}/x-tee.png\n`);
    writeFileSync(join(dir, "x-tee.png"), Buffer.from([0]));
    const set = openLabelledSet(list, ["tee", "pullover"]);
    expect(set.map((s) => [s.name, s.label])).toEqual([
      [`${FASHION.testImages}/00001-pullover.png`, 1],
      [join(dir, "x-tee.png"), 0],
    ]);
  });

  it("reads an idx test set as grey PNGs that decode to its pixels, labels by class id", () => {
    const idxDir = join(dir, "idx");
    rmSync(idxDir, { recursive: true, force: true });
    mkdirSync(idxDir);
    writeFileSync(join(idxDir, IDX_TEST.images), idx([2, 2, 3], [0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6]));
    writeFileSync(join(idxDir, IDX_TEST.labels), idx([2], [2, 0]));
    const set = openLabelledSet(idxDir, NAMES);
    expect(set.map((s) => s.label)).toEqual([2, 0]);
    const image = decodeImage(set[0]!.bytes());
    expect({ w: image.w, h: image.h, c: image.c }).toEqual({ w: 3, h: 2, c: 3 });
    // Grey is replicated into the three channels, each byte / 255.
    const plane = Array.from(image.data.subarray(0, 6), (v) => Math.round(v * 255));
    expect(plane).toEqual([0, 51, 102, 153, 204, 255]);
    expect(Array.from(image.data.subarray(6, 12))).toEqual(Array.from(image.data.subarray(0, 6)));
  });

  it("refuses an idx file whose size is not its header's", () => {
    const idxDir = join(dir, "bad-idx");
    mkdirSync(idxDir, { recursive: true });
    writeFileSync(join(idxDir, IDX_TEST.images), idx([2, 2, 3], [1, 2, 3]));
    writeFileSync(join(idxDir, IDX_TEST.labels), idx([2], [2, 0]));
    expect(() => openLabelledSet(idxDir, NAMES)).toThrow("idx data is 3 bytes, its header says 12");
  });
});

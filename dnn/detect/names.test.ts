import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../core/errors.js";
import { namesPath } from "../../test/fixtures.js";
import { COCO_NAMES, VOC_NAMES } from "./builtin-names.js";
import { classNames, parseNames, readNames } from "./names.js";

const dir = mkdtempSync(join(tmpdir(), "edgefuse-names-"));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe("names files", () => {
  it("reads coco.names (80) and voc.names (20)", () => {
    const coco = readNames(namesPath("coco"));
    const voc = readNames(namesPath("voc"));
    expect(coco).toHaveLength(80);
    expect(voc).toHaveLength(20);
    expect(coco[16]).toBe("dog");
    expect(voc[11]).toBe("dog");
  });

  it("the built-in lists are darknet's files", () => {
    expect(COCO_NAMES).toEqual(readNames(namesPath("coco")));
    expect(VOC_NAMES).toEqual(readNames(namesPath("voc")));
  });

  it("accepts CRLF and trailing blank lines, trims spaces", () => {
    expect(parseNames("cat\r\n dog \r\n\r\n\n", "x")).toEqual(["cat", "dog"]);
  });

  it("refuses a blank line inside, naming the line", () => {
    expect(() => parseNames("cat\ndog\n\nbird\n", "my.names")).toThrow(/my\.names: line 3 is empty/);
  });

  it("refuses an empty file and a missing file", () => {
    expect(() => readNames(file("empty.names", "\n\n"))).toThrow(/has no names/);
    expect(() => readNames(join(dir, "missing.names"))).toThrow(InputError);
  });
});

describe("classNames", () => {
  it("a names file must match the class count", () => {
    const path = namesPath("voc");
    expect(classNames(20, path)).toEqual(VOC_NAMES);
    let caught: unknown;
    try {
      classNames(80, path);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InputError);
    expect((caught as InputError).source).toBe(path);
    expect((caught as InputError).message).toMatch(/has 20 class names, the network has 80 classes/);
  });

  it("without a file: COCO for 80, VOC for 20, else 'class N'", () => {
    expect(classNames(80)).toEqual(COCO_NAMES);
    expect(classNames(20)).toEqual(VOC_NAMES);
    expect(classNames(3)).toEqual(["class 0", "class 1", "class 2"]);
  });

  it("a custom file with the right count is used as is", () => {
    expect(classNames(3, file("three.names", "red\ngreen\nblue\n"))).toEqual(["red", "green", "blue"]);
  });
});

/**
 * Class names: one per line, as darknet's get_labels reads them (data/*.names).
 * A names file must agree with the network's class count, since a shifted list
 * silently mislabels every detection.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { errorMessage, InputError } from "../../core/errors.js";
import { COCO_NAMES, VOC_NAMES } from "./builtin-names.js";

const nameLine = z.string().trim().min(1, "is empty (a blank line shifts every later class id)");

/** Parse names text: trailing blank lines and CR are dropped, blank lines inside are refused. */
export function parseNames(text: string, source: string): string[] {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === "") lines.pop();
  if (lines.length === 0) throw new InputError(source, "names file has no names");
  return lines.map((line, i) => {
    const parsed = nameLine.safeParse(line);
    if (!parsed.success) throw new InputError(source, `line ${i + 1} ${parsed.error.issues[0]!.message}`);
    return parsed.data;
  });
}

export function readNames(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new InputError(path, `cannot read names file: ${errorMessage(err)}`);
  }
  return parseNames(text, path);
}

/**
 * The names for a network with `classes` classes: from `namesFile` when given (its count
 * must match), else COCO's for 80 classes, VOC's for 20, else "class N".
 */
export function classNames(classes: number, namesFile?: string): string[] {
  if (namesFile !== undefined) {
    const names = readNames(namesFile);
    if (names.length !== classes) {
      throw new InputError(namesFile, `has ${names.length} class names, the network has ${classes} classes`);
    }
    return names;
  }
  if (classes === COCO_NAMES.length) return [...COCO_NAMES];
  if (classes === VOC_NAMES.length) return [...VOC_NAMES];
  return Array.from({ length: classes }, (_, i) => `class ${i}`);
}

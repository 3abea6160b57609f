/**
 * darknet .cfg reader: INI-like sections (`[convolutional]`) of `key=value` lines.
 * This module only splits the text and remembers where every key came from;
 * `layers.ts` gives the sections meaning.
 */
import { readFileSync } from "node:fs";
import { CfgError } from "../core/errors.js";

export interface CfgSection {
  /** Section name without brackets, lower-cased: "net", "convolutional", ... */
  readonly type: string;
  /** 1-based line of the `[type]` header. */
  readonly line: number;
  readonly options: ReadonlyMap<string, { value: string; line: number }>;
}

export interface CfgFile {
  readonly file: string;
  /** The text it was parsed from (plans carry it, so workers build the same network). */
  readonly text: string;
  readonly sections: readonly CfgSection[];
}

/**
 * Sections a cfg may hold, [net] and its layers: darknet's largest networks have a few
 * hundred layers; a cfg of millions of sections would exhaust the heap before any
 * layer is built, so the parser stops at the first one too many.
 */
export const MAX_CFG_SECTIONS = 1001;

export function parseCfgText(text: string, file = "<cfg>"): CfgFile {
  const sections: { type: string; line: number; options: Map<string, { value: string; line: number }> }[] = [];
  for (const [raw, lineNo] of linesOf(text)) {
    // darknet strips all whitespace from a line before reading it (strip() in utils.c).
    const line = raw.replace(/\s+/g, "");
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (line.startsWith("[")) {
      if (!line.endsWith("]") || line.length < 3)
        throw new CfgError(file, lineNo, undefined, `malformed section header '${raw.trim()}'`);
      if (sections.length === MAX_CFG_SECTIONS)
        throw new CfgError(
          file,
          lineNo,
          undefined,
          `more than ${MAX_CFG_SECTIONS} sections ([net] and ${MAX_CFG_SECTIONS - 1} layers), the limit of a cfg`,
        );
      sections.push({ type: line.slice(1, -1).toLowerCase(), line: lineNo, options: new Map() });
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) throw new CfgError(file, lineNo, undefined, `expected 'key=value', got '${raw.trim()}'`);
    const current = sections.at(-1);
    if (!current) throw new CfgError(file, lineNo, line.slice(0, eq), "option before the first [section]");
    const key = line.slice(0, eq);
    if (current.options.has(key))
      throw new CfgError(
        file,
        lineNo,
        key,
        `duplicate key in [${current.type}] (first at line ${current.options.get(key)!.line})`,
      );
    current.options.set(key, { value: line.slice(eq + 1), line: lineNo });
  }
  if (sections.length === 0) throw new CfgError(file, 1, undefined, "no sections found");
  return { file, text, sections };
}

/** Each line and its 1-based number, one at a time: a cfg too long is refused before the rest is split. */
function* linesOf(text: string): Generator<[string, number]> {
  let lineNo = 1;
  for (let start = 0; ; lineNo++) {
    const end = text.indexOf("\n", start);
    const line = text.slice(start, end < 0 ? text.length : end);
    yield [line.endsWith("\r") ? line.slice(0, -1) : line, lineNo];
    if (end < 0) return;
    start = end + 1;
  }
}

export function readCfgFile(path: string): CfgFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CfgError(path, 0, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseCfgText(text, path);
}

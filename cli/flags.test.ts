/**
 * The CLI keeps its promises about flags: every command's --help lists every flag its
 * parser takes, with a description and its default; bad values and unknown flags get
 * one line naming the flag, then the usage line, and exit code 2.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError } from "../core/errors.js";
import { edgefuse } from "../test/cli.js";
import { REPO_ROOT } from "../test/fixtures.js";
import { commandHelp, type Command } from "./command.js";
import { commands } from "./commands/index.js";
import { flagSyntax, isSwitch, type FlagSpec } from "./flags.js";

const loaded: [string, string, Command][] = await Promise.all(
  commands.map(async (c) => [c.name, c.summary, await c.load()] as [string, string, Command]),
);

/** What parse says about argv: "" when it takes it, else the UsageError's first line. */
function parseProblem(command: Command, argv: string[]): string {
  try {
    command.parse(argv);
    return "";
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return err.message.split("\n")[0]!;
  }
}

/** A value the flag's own schema takes, so the parser, not the schema, is what is tested. */
const sampleValue = (spec: Exclude<FlagSpec, { value?: never }>): string => spec.default || "1";

describe("edgefuse <command> --help", () => {
  it.each(loaded)("%s: lists every flag with its description and default", (name, summary, command) => {
    const help = commandHelp(summary, command);
    const lines = help.split("\n");
    expect(lines[2]).toBe(`usage: ${command.usage}`);
    for (const [flag, spec] of Object.entries(command.flags)) {
      const line = lines.find((l) => l.startsWith(`  ${flagSyntax(flag, spec)} `));
      expect(line, `--${flag} in ${name} --help`).toBeDefined();
      expect(line).toContain(spec.description);
      if (!isSwitch(spec) && spec.required) expect(line).toMatch(/\(required\)$/);
      else if (!isSwitch(spec) && (spec.defaultText ?? spec.default) !== undefined)
        expect(line).toContain(`(default: ${spec.defaultText ?? spec.default})`);
    }
    expect(lines.filter((l) => l.startsWith("  --")).length).toBe(Object.keys(command.flags).length);
  });

  it.each(loaded)("%s: its parser takes every flag the help lists, and no other", (name, _summary, command) => {
    for (const [flag, spec] of Object.entries(command.flags)) {
      const argv = isSwitch(spec) ? [`--${flag}`] : [`--${flag}`, sampleValue(spec)];
      // Other flags may be missing or clash; the flag itself must be known and given right.
      expect(parseProblem(command, argv), `${name} --${flag}`).not.toMatch(
        new RegExp(`^--${flag}: (unknown flag|needs a value|is a switch)`),
      );
    }
    expect(parseProblem(command, ["--no-such-flag"])).toBe(
      `--no-such-flag: unknown flag (edgefuse ${name} --help lists them)`,
    );
  });

  it("prints it from the command line, flags and defaults included", async () => {
    const r = await edgefuse(["planner", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^ {2}--devices N +devices to wait for before the first plan, the source counted .*\(default: 1\)$/m,
    );
    expect(r.stdout).toMatch(/^ {2}--broker URL +.*\(required\)$/m);
  });
});

describe("edgefuse --version", () => {
  it.each(["--version", "-v"])("%s prints package.json's version", async (flag) => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    const r = await edgefuse([flag]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${version}\n`);
  });
});

describe("bad flags", () => {
  it.each([
    [["up", "--devices", "-1"], "edgefuse up: --devices: expected a device count from 1 to 64"],
    [["up", "--devices", "abc"], "edgefuse up: --devices: expected a device count from 1 to 64"],
    [["up", "--devices", "65"], "edgefuse up: --devices: expected a device count from 1 to 64"],
    [["demo", "--devices=-3"], "edgefuse demo: --devices: expected a device count from 1 to 64"],
    [["up", "--frobnicate"], "edgefuse up: --frobnicate: unknown flag (edgefuse up --help lists them)"],
    [["up", "-x"], "edgefuse up: -x: unknown flag (edgefuse up --help lists them)"],
    [["up", "--devices"], "edgefuse up: --devices: needs a value (--devices N)"],
    [["up", "--infer", "--json"], "edgefuse up: --infer: needs a value (--infer IMAGE)"],
    [["up", "--json=yes"], "edgefuse up: --json: is a switch and takes no value"],
    [["up", "stray"], "edgefuse up: unexpected argument 'stray'"],
    [["broker", "--port", "70000"], "edgefuse broker: --port: must be at most 65535"],
    [
      ["planner", "--cfg", "yolov2", "--weights", "w", "--broker", "mqtt://h:1", "--devices", "0"],
      "edgefuse planner: --devices: expected a device count from 1 to 256",
    ],
    [["infer"], "edgefuse infer: give exactly one IMAGE"],
  ])("%j: one line naming the flag, the usage line, exit code 2", async (argv, line) => {
    const r = await edgefuse(argv);
    expect(r.code).toBe(2);
    const command = loaded.find(([name]) => name === argv[0])![2];
    expect(r.stderr).toBe(`${line}\nusage: ${command.usage}\n`);
    expect(r.stdout).toBe("");
  });
});

describe("a flag with a bare value (up --view [PORT])", () => {
  it("takes the bare value alone or before another flag, and the value given otherwise", () => {
    const up = loaded.find(([name]) => name === "up")![2];
    const parsed = (argv: string[]) => up.parse(argv) as { view?: number; devices: number };
    expect(parsed(["--view"]).view).toBe(0);
    expect(parsed(["--view", "--devices", "2"])).toMatchObject({ view: 0, devices: 2 });
    expect(parsed(["--view", "8081"]).view).toBe(8081);
    expect(parsed(["--view=8082", "--devices", "2"])).toMatchObject({ view: 8082, devices: 2 });
    expect(parsed([]).view).toBeUndefined();
    expect(parseProblem(up, ["--view", "x"])).toBe("--view: expected a TCP port (0 = any free port)");
  });
});

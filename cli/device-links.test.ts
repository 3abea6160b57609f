/** The device flags for links and speed: what worker, source and up take, and the one line they refuse a bad value with. */
import { describe, expect, it } from "vitest";
import { UsageError } from "../core/errors.js";
import { edgefuse } from "../test/cli.js";
import type { Command } from "./command.js";
import { sourceCommand } from "./commands/source.js";
import { upCommand } from "./commands/up.js";
import { workerCommand } from "./commands/worker.js";
import { linksGiven, linksText, perDeviceLinks } from "./devices.js";

const BROKER = ["--broker", "mqtt://127.0.0.1:1"];
const BAD_RATE = "expected RATE (e.g. 100mbit, 1gbit, 512kbit), got 'fast'";

/** The UsageError's first line for argv, or "" when it parses. */
function problem(command: Command, argv: string[]): string {
  try {
    command.parse(argv);
    return "";
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return err.message.split("\n")[0]!;
  }
}

describe.each([
  ["worker", workerCommand],
  ["source", sourceCommand],
])("%s --uplink / --downlink", (_name, command) => {
  it("reads rates as tc writes them, in bits per second", () => {
    const o = command.parse([...BROKER, "--uplink", "10mbit", "--downlink", "1.5gbit"]);
    expect([o.uplink, o.downlink]).toEqual([10e6, 1.5e9]);
    expect(linksGiven(o)).toEqual({ uplinkBitsPerSec: 10e6, downlinkBitsPerSec: 1.5e9 });
  });

  it("absent, announces none", () => {
    const o = command.parse(BROKER);
    expect(linksGiven(o)).toEqual({});
  });

  it.each(["uplink", "downlink"])("refuses a bad --%s in one line naming it", (flag) => {
    expect(problem(command, [...BROKER, `--${flag}`, "fast"])).toBe(`--${flag}: ${BAD_RATE}`);
    expect(problem(command, [...BROKER, `--${flag}`, "0mbit"])).toBe(
      `--${flag}: expected RATE (e.g. 100mbit, 1gbit, 512kbit), got '0mbit'`,
    );
  });

  it("takes a speed to announce instead of measuring one, and refuses one that is not positive", () => {
    expect(command.parse([...BROKER, "--gmac-per-sec", "2.5"])["gmac-per-sec"]).toBe(2.5);
    expect(command.parse(BROKER)["gmac-per-sec"]).toBeUndefined();
    expect(problem(command, [...BROKER, "--gmac-per-sec", "0"])).toBe("--gmac-per-sec: must be > 0");
  });
});

describe("up --uplink / --downlink", () => {
  it("one rate applies to every device", () => {
    const o = upCommand.parse(["--devices", "3", "--uplink", "100mbit"]);
    expect(perDeviceLinks(o)).toEqual([1, 2, 3].map(() => ({ uplinkBitsPerSec: 100e6 })));
  });

  it("a list gives one per device, the source first", () => {
    const o = upCommand.parse(["--devices", "3", "--uplink", "1gbit,10mbit,20mbit", "--downlink", "100mbit"]);
    expect(perDeviceLinks(o)).toEqual([
      { uplinkBitsPerSec: 1e9, downlinkBitsPerSec: 100e6 },
      { uplinkBitsPerSec: 10e6, downlinkBitsPerSec: 100e6 },
      { uplinkBitsPerSec: 20e6, downlinkBitsPerSec: 100e6 },
    ]);
  });

  it("none given: no device announces a rate", () => {
    expect(perDeviceLinks(upCommand.parse(["--devices", "2"]))).toEqual([{}, {}]);
  });

  it("refuses a bad rate in the list, naming it, and a list as long as neither 1 nor --devices", () => {
    expect(problem(upCommand, ["--uplink", "10mbit,fast"])).toBe(`--uplink: ${BAD_RATE}`);
    expect(problem(upCommand, ["--devices", "3", "--downlink", "1mbit,2mbit"])).toBe(
      "--downlink: give one RATE for every device or one per device (the source first), as many as --devices",
    );
  });
});

describe("a device's start-up line", () => {
  it("names the rates it was given, and none when it was given none", () => {
    expect(linksText({ uplinkBitsPerSec: 10e6, downlinkBitsPerSec: 1e9 })).toBe(
      ", uplink 10 Mbit/s, downlink 1 Gbit/s",
    );
    expect(linksText({})).toBe("");
  });
});

describe("the command line", () => {
  it("edgefuse worker --uplink fast exits 2 with the one line, before connecting anywhere", async () => {
    const r = await edgefuse(["worker", ...BROKER, "--uplink", "fast"]);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe(`edgefuse worker: --uplink: ${BAD_RATE}`);
  });
});

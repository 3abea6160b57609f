import { describe, expect, it } from "vitest";
import { LabError } from "../core/errors.js";
import { formatArgv, run, runSync } from "./sh.js";

describe("sh", () => {
  it("returns stdout of a command that succeeds", async () => {
    expect((await run(["echo", "a b"])).stdout).toBe("a b\n");
    expect(runSync(["echo", "c"]).stdout).toBe("c\n");
  });

  it("names the command line, exit code and stderr of one that fails", async () => {
    const argv = ["sh", "-c", "echo 'no such device' >&2; exit 3"];
    const err = await run(argv).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabError);
    expect((err as LabError).message).toBe(
      "command failed: `sh -c 'echo '\\''no such device'\\'' >&2; exit 3'` exited 3: no such device",
    );
    expect((err as LabError).exitCode).toBe(3);
    expect(() => runSync(argv)).toThrow(/exited 3: no such device/);
  });

  it("says when the program is missing", async () => {
    await expect(run(["/nonexistent/tc", "qdisc"])).rejects.toThrow("cannot run `/nonexistent/tc qdisc`: ENOENT");
    expect(() => runSync(["/nonexistent/tc"])).toThrow("cannot run `/nonexistent/tc`: ENOENT");
    expect(formatArgv(["ip", "-n", "x y"])).toBe("ip -n 'x y'");
  });
});

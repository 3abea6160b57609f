/**
 * `up` refuses an embedded broker that anyone on the network could use before it loads
 * anything: listening beyond this machine needs --auth's users or --insecure.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BrokerError } from "../../broker/errors.js";
import { makeTestCertificates } from "../../broker/tls-test-support.js";
import { brokerAccessOf, upCommand } from "./up.js";

describe("edgefuse up's broker access", () => {
  it("refuses --host 0.0.0.0 without --auth or --insecure, before loading a model", async () => {
    const started = await upCommand.run(["--host", "0.0.0.0", "--port", "0"]).catch((e: unknown) => e);
    expect(started).toBeInstanceOf(BrokerError);
    expect((started as Error).message).toBe(
      "mqtt://0.0.0.0:0: not listening: 0.0.0.0 is reachable beyond this machine: give users with --auth FILE, or --insecure to let anyone who reaches it do anything",
    );
    await expect(upCommand.run(["--insecure", "--auth", "users.json"])).rejects.toThrow(/^--insecure: /);
  });

  it("makes anonymous clients guests on loopback, trusts them with --insecure, and reads --auth's users", async () => {
    expect(await brokerAccessOf({ host: "127.0.0.1", port: 0, insecure: false })).toEqual({ anonymous: "guest" });
    expect(await brokerAccessOf({ host: "0.0.0.0", port: 0, insecure: true })).toEqual({ anonymous: "trusted" });
    const dir = await mkdtemp(join(tmpdir(), "edgefuse-up-auth-"));
    try {
      await expect(
        brokerAccessOf({ host: "0.0.0.0", port: 0, auth: join(dir, "users.json"), insecure: false }),
      ).rejects.toThrow(/users\.json: cannot read/);
      const files = makeTestCertificates(dir);
      const tls = await brokerAccessOf({
        host: "127.0.0.1",
        port: 0,
        insecure: false,
        "tls-cert": files.serverCert,
        "tls-key": files.serverKey,
      });
      expect(tls.tls?.cert.toString()).toContain("-----BEGIN CERTIFICATE-----");
      await expect(upCommand.run(["--tls-ca", files.ca])).rejects.toThrow(/^--tls-ca: --tls-ca goes with --tls-cert/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

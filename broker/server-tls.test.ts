/** The embedded broker over TLS: mqtts:// and wss:// with a certificate the test makes, and client certificates. */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { inbox, startEmbedded, useTeardown } from "../test/brokers.js";
import { deploymentLogins } from "./auth.js";
import { connectBroker, subscribeChunked } from "./client.js";
import { BrokerError } from "./errors.js";
import { serverTls } from "./tls.js";
import { makeTestCertificates } from "./tls-test-support.js";
import { topicsFor } from "./topics.js";

const t = topicsFor("lab");

describe("embedded broker over TLS", () => {
  const teardown = useTeardown();
  const certificates = async () => {
    const dir = await mkdtemp(join(tmpdir(), "edgefuse-tls-"));
    teardown.add(() => rm(dir, { recursive: true, force: true }));
    return makeTestCertificates(dir);
  };

  it("serves mqtts:// and wss:// to a client that trusts its CA, and refuses one that does not", async () => {
    const files = await certificates();
    const tls = await serverTls({ cert: files.serverCert, key: files.serverKey });
    const logins = deploymentLogins("lab", []);
    const { broker, logLines } = teardown.broker(
      await startEmbedded({ tls, wsPort: 0, anonymous: "guest", localUsers: logins.users }),
    );
    expect(broker.url).toBe(`mqtts://127.0.0.1:${broker.port}`);
    expect(broker.wsUrl).toBe(`wss://127.0.0.1:${broker.wsPort}`);
    const ca = await readFile(files.ca);
    const source = teardown.client(
      await connectBroker(broker.wsUrl!, {
        ...logins.source,
        clientId: "source-lab",
        tls: { ca },
        reconnectPeriodMs: 0,
      }),
    );
    const requests = inbox<string>();
    await subscribeChunked(source, t.filters.requests, {
      onMessage: (topic, payload) => requests.push(`${topic} ${payload}`),
      onError: (e) => {
        throw e;
      },
    });
    const camera = teardown.client(
      await connectBroker(broker.url, { clientId: "camera", tls: { ca }, reconnectPeriodMs: 0 }),
    );
    await camera.publishAsync(t.infer("r"), "image", { qos: 1 });
    expect(await requests.next()).toBe(`${t.infer("r")} image`);

    await expect(connectBroker(broker.url, { reconnectPeriodMs: 0, connectTimeoutMs: 2000 })).rejects.toThrow(
      /cannot connect: .*(self-signed|unable to verify|local issuer)/,
    );
    const stranger = await readFile(files.strangerCert);
    await expect(
      connectBroker(broker.url, { tls: { ca: stranger }, reconnectPeriodMs: 0, connectTimeoutMs: 2000 }),
    ).rejects.toThrow(BrokerError);
    const plain = `mqtt://127.0.0.1:${broker.port}`;
    await expect(connectBroker(plain, { reconnectPeriodMs: 0, connectTimeoutMs: 2000 })).rejects.toThrow(BrokerError);
    await vi.waitFor(() => expect(logLines.some((l) => / dropped: TLS: /.test(l))).toBe(true));
  });

  it("with a CA for clients, lets in only a client with a certificate it signed", async () => {
    const files = await certificates();
    const tls = await serverTls({ cert: files.serverCert, key: files.serverKey, ca: files.ca });
    const { broker } = teardown.broker(await startEmbedded({ tls, anonymous: "guest" }));
    const [ca, cert, key] = await Promise.all([files.ca, files.clientCert, files.clientKey].map((f) => readFile(f)));
    await expect(
      connectBroker(broker.url, { tls: { ca }, reconnectPeriodMs: 0, connectTimeoutMs: 2000 }),
    ).rejects.toThrow(BrokerError);
    const client = teardown.client(
      await connectBroker(broker.url, { clientId: "with-cert", tls: { ca, cert, key }, reconnectPeriodMs: 0 }),
    );
    await client.publishAsync(t.infer("r"), "image", { qos: 1 });
  });

  it("also serves plain MQTT on loopback for the embedding program's own actors when asked (localPort)", async () => {
    const files = await certificates();
    const tls = await serverTls({ cert: files.serverCert, key: files.serverKey });
    const logins = deploymentLogins("lab", []);
    const { broker } = teardown.broker(
      await startEmbedded({ tls, localPort: 0, anonymous: "guest", localUsers: logins.users }),
    );
    expect(broker.localUrl).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(broker.url).toMatch(/^mqtts:/);
    // The same broker: a request sent over TLS reaches the source on the loopback listener, ACL and all.
    const source = teardown.client(
      await connectBroker(broker.localUrl!, { ...logins.source, clientId: "source-lab", reconnectPeriodMs: 0 }),
    );
    const requests = inbox<string>();
    await subscribeChunked(source, t.filters.requests, {
      onMessage: (topic) => requests.push(topic),
      onError: (e) => {
        throw e;
      },
    });
    const ca = await readFile(files.ca);
    const camera = teardown.client(
      await connectBroker(broker.url, { clientId: "camera", tls: { ca }, reconnectPeriodMs: 0 }),
    );
    await camera.publishAsync(t.infer("r"), "image", { qos: 1 });
    expect(await requests.next()).toBe(t.infer("r"));
    await expect(
      connectBroker(broker.localUrl!, { clientId: "source-lab", reconnectPeriodMs: 0, connectTimeoutMs: 2000 }),
    ).rejects.toThrow(/Identifier rejected/);
    // Without TLS there is nothing to add: the one listener is plain already.
    const { broker: plain } = teardown.broker(await startEmbedded({ localPort: 0 }));
    expect(plain.localUrl).toBeUndefined();
  });
});

/**
 * Certificates for the TLS tests, made with openssl into a directory the test owns: a
 * CA, a server certificate it signed for 127.0.0.1 and localhost, and a client
 * certificate it signed; plus one self-signed certificate no one trusts.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestCertificates {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Self-signed, for a client that trusts the wrong CA. */
  readonly strangerCert: string;
  readonly strangerKey: string;
}

const openssl = (dir: string, args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

/** P-256 keys: quick to make, and every TLS stack takes them. */
const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export function makeTestCertificates(dir: string): TestCertificates {
  const file = (name: string) => join(dir, name);
  openssl(dir, [
    "req",
    "-x509",
    ...newKey,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=edgefuse test CA",
  ]);
  const signed = (name: string, subject: string, extensions: string) => {
    openssl(dir, ["req", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject]);
    writeFileSync(file(`${name}.ext`), extensions);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      `${name}.pem`,
      "-extfile",
      `${name}.ext`,
    ]);
  };
  signed("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  signed("client", "/CN=edgefuse test client", "extendedKeyUsage=clientAuth\n");
  openssl(dir, [
    "req",
    "-x509",
    ...newKey,
    "-keyout",
    "stranger.key",
    "-out",
    "stranger.pem",
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
  ]);
  return {
    ca: file("ca.pem"),
    serverCert: file("server.pem"),
    serverKey: file("server.key"),
    clientCert: file("client.pem"),
    clientKey: file("client.key"),
    strangerCert: file("stranger.pem"),
    strangerKey: file("stranger.key"),
  };
}

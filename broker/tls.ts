/**
 * TLS for the embedded broker and for the actors that connect to a broker over TLS:
 * the PEM files the flags name, read and checked before anything listens or connects,
 * each problem one line naming the file.
 *
 * - Broker (`--tls-cert`, `--tls-key`, optionally `--tls-ca` to require client
 *   certificates signed by that CA): serverTls() → BrokerOptions.tls; the TCP listener
 *   speaks mqtts:// and the WebSocket one wss://.
 * - Actors (`--ca`, and `--cert`/`--key` for a client certificate): clientTls() →
 *   ConnectOptions.tls, for mqtts:// and wss:// brokers.
 */
import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import { EdgefuseError } from "../core/errors.js";

/** What a TLS listener is made with (node:tls createServer options). */
export interface ServerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Require a client certificate signed by this CA. */
  readonly ca?: Buffer;
}

/** What a client trusts and presents (node:tls connect options). */
export interface ClientTls {
  /** Trust this CA (or self-signed certificate) instead of the system's. */
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** A PEM file that cannot be read or is not what it should be. */
export class TlsFileError extends EdgefuseError {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super("tls", `${file}: ${problem}`);
  }
}

async function readPem(file: string, what: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new TlsFileError(file, `cannot read the ${what}: ${(err as Error).message}`);
  }
  if (!bytes.includes("-----BEGIN ")) throw new TlsFileError(file, `not a PEM file (the ${what} expected)`);
  return bytes;
}

/** Checks that a certificate and its key make a usable TLS identity; the OpenSSL reason otherwise. */
function checkIdentity(certFile: string, keyFile: string, cert: Buffer, key: Buffer, ca?: Buffer): void {
  try {
    createSecureContext({ cert, key, ...(ca && { ca }) });
  } catch (err) {
    throw new TlsFileError(`${certFile} and ${keyFile}`, `not a certificate and its key: ${(err as Error).message}`);
  }
}

export async function serverTls(files: { cert: string; key: string; ca?: string | undefined }): Promise<ServerTls> {
  const [cert, key, ca] = await Promise.all([
    readPem(files.cert, "certificate"),
    readPem(files.key, "private key"),
    files.ca === undefined ? undefined : readPem(files.ca, "CA certificate"),
  ]);
  checkIdentity(files.cert, files.key, cert, key, ca);
  return { cert, key, ...(ca && { ca }) };
}

/** undefined when no file is named: the system's CAs, no client certificate. */
export async function clientTls(files: {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}): Promise<ClientTls | undefined> {
  if (files.ca === undefined && files.cert === undefined && files.key === undefined) return undefined;
  if ((files.cert === undefined) !== (files.key === undefined))
    throw new TlsFileError(files.cert ?? files.key!, "a client certificate needs both --cert and --key");
  const [ca, cert, key] = await Promise.all([
    files.ca === undefined ? undefined : readPem(files.ca, "CA certificate"),
    files.cert === undefined ? undefined : readPem(files.cert, "client certificate"),
    files.key === undefined ? undefined : readPem(files.key, "client key"),
  ]);
  if (cert && key) checkIdentity(files.cert!, files.key!, cert, key);
  return { ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }) };
}

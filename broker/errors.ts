/**
 * Errors of the wire layer beyond core/errors.ts (whose WireError covers a bad
 * message). Each carries the data that explains it.
 */
import { EdgefuseError } from "../core/errors.js";

/** A broker cannot be reached, refuses us, or cannot listen. */
export class BrokerError extends EdgefuseError {
  constructor(
    /** The broker URL, e.g. `mqtt://127.0.0.1:1883`. */
    readonly url: string,
    readonly problem: string,
  ) {
    super("broker", `${url}: ${problem}`);
  }
}

/** The auth file cannot be read or does not fit its schema (broker/auth.ts). */
export class AuthFileError extends EdgefuseError {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super("auth", `${file}: ${problem}`);
  }
}

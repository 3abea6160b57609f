/**
 * What the broker's contract suite (broker.contract.ts) and the project's other suites
 * use to talk to a broker under test: its shape, a teardown that closes what a test
 * opened, and a queue to await messages. Here, beside the contract, so the contract
 * needs nothing from test/ (test/brokers.ts starts the brokers and re-exports these).
 */
import { readFileSync } from "node:fs";
import type { MqttClient } from "mqtt";
import { afterAll, afterEach } from "vitest";
import type { UserRole } from "./auth.js";
import type { ConnectOptions } from "./client.js";

export interface TestBroker {
  readonly name: string;
  readonly url: string;
  /** The packet limit the broker enforces, when it enforces one. */
  readonly maxPacketBytes?: number;
  /**
   * How a client of `role` logs in (a device: as `deviceId`), on a broker with users and
   * an ACL; absent where anyone may connect and do anything.
   */
  login?(role: UserRole, deviceId?: string): TestLogin;
  close(): Promise<void>;
}

/** A user of a test broker, and the CA file its TLS listener's certificate is signed by. */
export interface TestLogin {
  readonly username: string;
  readonly password: string;
  readonly caFile: string;
}

/** The connect options of a login: its user, and its CA trusted for mqtts://. */
export const loginOptions = (login: TestLogin | undefined): Partial<ConnectOptions> =>
  login ? { username: login.username, password: login.password, tls: { ca: readFileSync(login.caFile) } } : {};

export type StartTestBroker = () => Promise<TestBroker>;

/** From the mosquitto-clients package, installed beside Mosquitto. */
export const MOSQUITTO_PUB_BIN = "/usr/bin/mosquitto_pub";

// ---------------------------------------------------------------------------
// teardown

/**
 * Collects everything a test opens and closes it afterwards, last opened first,
 * even when some close fails (then it throws all the failures together).
 */
export class Teardown {
  private readonly steps: (() => unknown)[] = [];

  add(step: () => unknown): void {
    this.steps.push(step);
  }

  /** Closes the client (forcefully: tests need not wait for in-flight acks). */
  client<C extends MqttClient>(client: C): C {
    this.add(() => client.endAsync(true));
    return client;
  }

  broker<B extends { close(): Promise<void> }>(broker: B): B {
    this.add(() => broker.close());
    return broker;
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    while (this.steps.length) {
      try {
        await this.steps.pop()!();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length) throw new AggregateError(errors, `${errors.length} teardown steps failed`);
  }
}

/** A Teardown that runs after each test ("each") or after the file's tests ("all"). */
export function useTeardown(when: "each" | "all" = "each"): Teardown {
  const teardown = new Teardown();
  (when === "each" ? afterEach : afterAll)(() => teardown.run());
  return teardown;
}

// ---------------------------------------------------------------------------
// waiting for messages

/**
 * A queue to await values pushed by callbacks: `const got = inbox<Msg>();
 * subscribe(..., (m) => got.push(m)); expect(await got.next()).toEqual(...)`.
 */
export function inbox<T>() {
  const items: T[] = [];
  const waiters: ((value: T) => void)[] = [];
  return {
    items,
    push(value: T): void {
      const waiter = waiters.shift();
      if (waiter) waiter(value);
      else items.push(value);
    },
    next(timeoutMs = 5_000, what = "message"): Promise<T> {
      if (items.length) return Promise.resolve(items.shift()!);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(done), 1);
          reject(new Error(`no ${what} within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (value: T) => {
          clearTimeout(timer);
          resolve(value);
        };
        waiters.push(done);
      });
    },
  };
}

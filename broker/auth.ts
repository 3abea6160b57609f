/**
 * Users, passwords and the topic ACL of the embedded broker.
 *
 * Auth file (JSON):
 *
 * ```json
 * { "users": [
 *   { "username": "planner", "password": "scrypt$16384$8$1$<salt b64>$<hash b64>", "role": "planner" },
 *   { "username": "w1",      "password": "scrypt$…", "role": "worker" },
 *   { "username": "cam",     "password": "scrypt$…", "role": "client" } ] }
 * ```
 *
 * Make a hash with `edgefuse broker --hash-password` (reads the password from
 * stdin) or hashPassword(). A password that does not start with `scrypt$` is
 * compared as plain text, for throwaway labs only; the broker warns about it.
 *
 * The ACL is topics.ts' TOPIC_TABLE: for each topic kind, the roles that may publish
 * it and the roles that may read it; every publish right includes the message's chunk
 * topics `<topic>/c/<i>`. A device (source or worker) may announce only its own presence
 * and ask for shards only as itself, and receives only the shards sent to it. The one
 * topic outside edgefuse/v1 is the source's Home Assistant discovery configs. An admin
 * may do anything.
 *
 * A worker's id is its `workerId` field, or its username. Reads are checked per
 * delivered message (a subscription to `#` is accepted but only carries what the
 * role may read), as Mosquitto's ACL does.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { AuthFileError } from "./errors.js";
import { isHaDiscoveryTopic } from "./home-assistant-topics.js";
import { ID_PATTERN, ownIdOf, parseTopic, ROLES, TOPIC_TABLE } from "./topics.js";

export { ROLES, type Role } from "./topics.js";

const userSchema = z.object({
  username: z.string().min(1).max(128),
  password: z.string().min(1),
  role: z.enum(ROLES),
  /** For workers: the id in `workers/<workerId>`; defaults to the username. */
  workerId: z.string().regex(ID_PATTERN, "expected 1-64 of [A-Za-z0-9._:-]").optional(),
});
export const authFileSchema = z.object({
  users: z.array(userSchema).min(1),
});
export type AuthUser = z.infer<typeof userSchema>;
export type AuthFile = z.infer<typeof authFileSchema>;

export async function loadAuthFile(file: string): Promise<AuthFile> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new AuthFileError(file, `cannot read: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AuthFileError(file, `not JSON: ${(err as Error).message}`);
  }
  return parseAuthFile(json, file);
}

export function parseAuthFile(json: unknown, file = "auth"): AuthFile {
  const result = authFileSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new AuthFileError(file, `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  const seen = new Set<string>();
  for (const user of result.data.users) {
    if (seen.has(user.username)) throw new AuthFileError(file, `user ${user.username} appears twice`);
    seen.add(user.username);
    if (user.role === "worker" && !ID_PATTERN.test(user.workerId ?? user.username)) {
      throw new AuthFileError(file, `worker ${user.username}: username is not a valid worker id; add "workerId"`);
    }
  }
  return result.data;
}

// ---------------------------------------------------------------------------
// passwords: scrypt (RFC 7914) as `scrypt$N$r$p$<salt base64>$<hash base64>`

export const scryptDefaults = { N: 16384, r: 8, p: 1, saltBytes: 16, hashBytes: 32 } as const;

const scryptAsync = (password: string, salt: Buffer, bytes: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) =>
    scrypt(password, salt, bytes, { ...options, maxmem: 256 * options.N! * options.r! }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );

export async function hashPassword(password: string): Promise<string> {
  const { N, r, p, saltBytes, hashBytes } = scryptDefaults;
  const salt = randomBytes(saltBytes);
  const hash = await scryptAsync(password, salt, hashBytes, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

export const isHashed = (stored: string) => stored.startsWith("scrypt$");

/** Checks `password` against a stored hash (or plain text); false on any malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (!isHashed(stored)) return constantTimeEqual(Buffer.from(password), Buffer.from(stored));
  const [, n, r, p, salt, hash] = stored.split("$");
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  if (![N, R, P].every((x) => Number.isInteger(x) && x > 0) || !salt || !hash || N > 2 ** 20) return false;
  const expected = Buffer.from(hash, "base64");
  if (expected.byteLength < 16) return false;
  try {
    const actual = await scryptAsync(password, Buffer.from(salt, "base64"), expected.byteLength, { N, r: R, p: P });
    return constantTimeEqual(actual, expected);
  } catch {
    return false;
  }
}

function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

// ---------------------------------------------------------------------------
// ACL

/** The planner sends shards to any device; a device's own-id rule holds for the source and workers. */
const ownIdApplies = (user: AuthUser) => user.role === "source" || user.role === "worker";
const idOf = (user: AuthUser) => user.workerId ?? user.username;

/** null if `user` may publish on `topic`, else why not. */
export function publishDenial(user: AuthUser, topic: string): string | null {
  if (user.role === "admin") return null;
  // The one topic outside edgefuse/v1: the source's Home Assistant discovery configs (`<prefix>/<sensor|image>/edgefuse_…/config`).
  if (user.role === "source" && isHaDiscoveryTopic(topic)) return null;
  const parsed = parseTopic(topic);
  if (!parsed) return `${user.role} ${user.username} may not publish outside the edgefuse topics`;
  if (!(TOPIC_TABLE[parsed.kind].publish as readonly string[]).includes(user.role))
    return `${user.role} ${user.username} may not publish ${parsed.kind} topics`;
  const owner = ownIdOf(parsed, "publish");
  if (owner !== undefined && ownIdApplies(user) && owner !== idOf(user)) {
    const what = parsed.kind === "worker" ? "presence" : "shard requests";
    return `${user.role} ${user.username} may publish only its own ${what}, not ${owner}'s`;
  }
  return null;
}

/** May `user` receive a message published on `topic`? */
export function mayRead(user: AuthUser, topic: string): boolean {
  if (user.role === "admin") return true;
  const parsed = parseTopic(topic);
  if (parsed === null || !(TOPIC_TABLE[parsed.kind].read as readonly string[]).includes(user.role)) return false;
  const owner = ownIdOf(parsed, "read");
  return owner === undefined || !ownIdApplies(user) || owner === idOf(user);
}

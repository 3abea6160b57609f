/**
 * A Mosquitto `acl_file` for an edgefuse deployment, derived from the same rules the
 * embedded broker enforces (topics.ts TOPIC_TABLE: who publishes and reads each kind;
 * auth.ts: what a viewer reads), so a team that runs its own Mosquitto gives each user
 * what its role may do and no more: `edgefuse acl --auth users.json --deployment lab`.
 *
 * Each user gets a `user` section with one `topic write` / `topic read` line per topic
 * kind its role may publish or read, and one for that kind's chunk topics (`<topic>/c/+`,
 * chunking.ts). A device (source, worker) gets its own id where the table says it may
 * use a kind only as itself: it announces only its own presence, asks for shards only as
 * itself and reads only the shards sent to it. The source also publishes its Home
 * Assistant discovery configs and reads Home Assistant's status. An admin gets `#`.
 *
 * What an ACL file cannot say, and the embedded broker does (auth.ts): that a task's
 * output comes only from the worker the plan routes it to (here any worker may publish
 * `job/…/out`), that a client reads only its own requests' results (here every client
 * reads `results/+`), and that client ids are tied to users. Mosquitto checks reads per
 * delivered message, as the embedded broker does: a subscription to `#` is accepted but
 * carries only what the user may read. Anonymous clients get nothing: the file has no
 * lines before the first `user` (pair it with `allow_anonymous false`).
 */
import { z } from "zod";
import { AuthFileError } from "./errors.js";
import { HA_COMPONENTS, HA_DEFAULT_PREFIX } from "./home-assistant-topics.js";
import { mayRead, USER_ROLES, type UserRole } from "./auth.js";
import { assertId, CHUNK_LEVEL, TOPIC_KINDS, TOPIC_ROOT, TOPIC_TABLE, type TopicKind } from "./topics.js";

/** What the ACL needs of a user: its name, its role and, for a device, its id (the username when absent). */
export interface AclUser {
  readonly username: string;
  readonly role: UserRole;
  readonly workerId?: string | undefined;
}

export interface MosquittoAclOptions {
  readonly users: readonly AclUser[];
  /** The deployment these users work in; any deployment (`+`) when absent. */
  readonly deployment?: string | undefined;
  /** The source's Home Assistant discovery prefix. */
  readonly haPrefix?: string;
  /** Where the users came from (an auth file), for the errors. */
  readonly from?: string;
}

/** Mosquitto reads `user <name>` to the end of the line: a name it would read otherwise is refused. */
const usernameSchema = z
  .string()
  .min(1)
  .refine(
    (u) => [...u].every((c) => c.charCodeAt(0) > 0x1f && c.charCodeAt(0) !== 0x7f) && u.trim() === u,
    "no control characters or outer spaces",
  );

type Access = "read" | "write";

/** The levels of `kind` with each `{field}` a `+`, or the device's own id where the kind is its alone. */
function kindPattern(kind: TopicKind, access: Access, user: AclUser): string {
  const spec: { levels: string; ownId?: { field: string; on: "publish" | "read" } } = TOPIC_TABLE[kind];
  const own = spec.ownId && (spec.ownId.on === "publish") === (access === "write") && isDevice(user.role);
  return spec.levels
    .split("/")
    .map((level) => {
      if (!level.startsWith("{")) return level;
      return own && level === `{${spec.ownId!.field}}` ? assertId(user.workerId ?? user.username, "device id") : "+";
    })
    .join("/");
}

const isDevice = (role: UserRole) => role === "source" || role === "worker";

/** A topic of `kind` with every field filled in: what auth.ts' mayRead is asked about a viewer. */
function sampleTopic(kind: TopicKind): string {
  const levels = TOPIC_TABLE[kind].levels.split("/").map((level) => {
    if (level === "{layer}" || level === "{part}") return "0";
    if (level === "{sha256}") return "0".repeat(64);
    return level.startsWith("{") ? "x" : level;
  });
  return `${TOPIC_ROOT}/acl/${levels.join("/")}`;
}

/** The kinds `role` may publish or read, by the table (a viewer: by what auth.ts lets it read). */
function mayUse(role: UserRole, kind: TopicKind, access: Access): boolean {
  if (role === "viewer") return access === "read" && mayRead({ username: "viewer", role: "viewer" }, sampleTopic(kind));
  if (role === "admin") return false; // `#`, below
  const spec: { publish: readonly string[]; read: readonly string[] } = TOPIC_TABLE[kind];
  return (access === "write" ? spec.publish : spec.read).includes(role);
}

/** The `user` section of one user. */
function userLines(user: AclUser, prefix: string, haPrefix: string): string[] {
  const lines = [`# ${user.role}`, `user ${user.username}`];
  if (user.role === "admin") return [...lines, "topic readwrite #"];
  for (const access of ["write", "read"] as const) {
    for (const kind of TOPIC_KINDS) {
      if (!mayUse(user.role, kind, access)) continue;
      const topic = prefix + kindPattern(kind, access, user);
      lines.push(`topic ${access} ${topic}`, `topic ${access} ${topic}/${CHUNK_LEVEL}/+`);
    }
  }
  if (user.role === "source") {
    for (const component of HA_COMPONENTS) lines.push(`topic write ${haPrefix}/${component}/+/config`);
    lines.push(`topic read ${haPrefix}/status`);
  }
  return lines;
}

/** The acl_file text for `users`; throws AuthFileError naming a user Mosquitto could not be given. */
export function mosquittoAcl(o: MosquittoAclOptions): string {
  const deployment = o.deployment === undefined ? "+" : assertId(o.deployment, "deployment");
  const prefix = `${TOPIC_ROOT}/${deployment}/`;
  const from = o.from ?? "users";
  const sections = o.users.map((user) => {
    const name = usernameSchema.safeParse(user.username);
    if (!name.success)
      throw new AuthFileError(from, `user ${JSON.stringify(user.username)}: ${name.error.issues[0]!.message}`);
    if (!USER_ROLES.includes(user.role))
      throw new AuthFileError(from, `user ${user.username}: unknown role ${user.role}`);
    return userLines(user, prefix, o.haPrefix ?? HA_DEFAULT_PREFIX).join("\n");
  });
  const head = [
    "# Mosquitto acl_file for edgefuse (edgefuse acl): each user may do what its role may, nothing more.",
    `# Deployment: ${o.deployment ?? "any"}. No lines before the first user: anonymous clients may do nothing.`,
  ];
  return `${[head.join("\n"), ...sections].join("\n\n")}\n`;
}

/**
 * A device process that another started for itself (`edgefuse up` starts its workers,
 * system.ts) ends when that parent does, however it ends: killed with SIGKILL or by the
 * out-of-memory killer, a parent runs no exit handler to stop its children.
 *
 * The parent gives the child an IPC channel and the child watches it close. The kernel
 * closes it whatever ends the parent, so the child hears at once, without polling; a
 * parent pid watched instead is only seen to change at the next poll, and stdin EOF
 * fires for a worker started by hand with stdin from /dev/null. The parent also marks
 * the child's environment, so a child whose parent died before it started watching
 * (the channel already gone) still knows it had one.
 */
import type { StdioOptions } from "node:child_process";

const MARK = "EDGEFUSE_PARENT_LINK";

/** How long a child whose parent is gone may take to stop cleanly before it exits anyway. */
export const PARENT_GONE_GRACE_MS = 3_000;

/** What the parent passes to spawn: the child's stdio with the channel after it, and its environment marked. */
export function linkedChild(stdio: readonly ("ignore" | "pipe" | "inherit")[]): {
  stdio: StdioOptions;
  env: NodeJS.ProcessEnv;
} {
  return { stdio: [...stdio, "ipc"], env: { ...process.env, [MARK]: "1" } };
}

let watching: Promise<void> | undefined;

/**
 * In the child: resolves when the parent that started it over a link is gone (at once
 * when it is gone already), so the caller can stop cleanly; the process then exits
 * within `graceMs` whatever that stop waits for (the broker it would say goodbye to
 * may have died with the parent, as up's embedded one does). Never resolves in a
 * process started without a link. Call it early, before anything slow.
 */
export function parentGone(graceMs = PARENT_GONE_GRACE_MS): Promise<void> {
  watching ??= watchParent(graceMs);
  return watching;
}

function watchParent(graceMs: number): Promise<void> {
  if (process.env[MARK] !== "1") return new Promise<void>(() => {});
  const gone = new Promise<void>((resolve) => {
    if (!process.channel || !process.connected) return resolve();
    // The channel alone must not keep the process alive once it has stopped.
    process.channel.unref();
    process.once("disconnect", () => resolve());
  });
  return gone.then(() => {
    setTimeout(() => process.exit(1), graceMs).unref();
  });
}

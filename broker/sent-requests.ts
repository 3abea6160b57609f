/**
 * Which requests each client sent, so that the ACL (auth.ts AclContext.sentRequest)
 * hands a client the results and errors of its own requests only. A user's requests are
 * its own on any of its connections (a camera that sends with one and listens with
 * another); an anonymous client's are only those of its connection.
 *
 * Each sender keeps its last `perSender` request ids: a result comes within the source's
 * deadline (30 s), long before a busy client's thousandth request after it.
 */
export class SentRequests<Sender extends object> {
  private readonly byUser = new Map<string, Set<string>>();
  private readonly byConnection = new WeakMap<Sender, Set<string>>();

  constructor(private readonly perSender = 1000) {}

  /** `username` undefined: an anonymous client, known by its connection. */
  add(sender: Sender, username: string | undefined, requestId: string): void {
    const ids = this.idsOf(sender, username, true)!;
    ids.delete(requestId); // re-inserted last: the newest are kept
    ids.add(requestId);
    if (ids.size > this.perSender) ids.delete(ids.values().next().value!);
  }

  has(sender: Sender, username: string | undefined, requestId: string): boolean {
    return this.idsOf(sender, username, false)?.has(requestId) ?? false;
  }

  private idsOf(sender: Sender, username: string | undefined, create: boolean): Set<string> | undefined {
    const found = username === undefined ? this.byConnection.get(sender) : this.byUser.get(username);
    if (found || !create) return found;
    const made = new Set<string>();
    if (username === undefined) this.byConnection.set(sender, made);
    else this.byUser.set(username, made);
    return made;
  }
}

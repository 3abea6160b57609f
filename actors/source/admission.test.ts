import { describe, expect, it } from "vitest";
import type { EdgefuseError } from "../../core/errors.js";
import { admission } from "./admission.js";

/** A request that runs until released; what happened to each is recorded. */
function harness(o: Parameters<typeof admission>[0]) {
  const gate = admission(o, (err) => {
    throw err;
  });
  const started: string[] = [];
  const refused = new Map<string, EdgefuseError>();
  const release = new Map<string, () => void>();
  const submit = (id: string) =>
    gate.admit(
      id,
      () =>
        new Promise<void>((r) => {
          started.push(id);
          release.set(id, r);
        }),
      async (err) => void refused.set(id, err),
    );
  const finish = async (id: string) => {
    release.get(id)!();
    await new Promise((r) => setTimeout(r, 0));
  };
  return { gate, started, refused, submit, finish };
}

describe("admission", () => {
  it("runs up to inFlight at once and starts the oldest waiting one as each ends", async () => {
    const h = harness({ inFlight: 2, queue: 10, overflow: "reject" });
    for (const id of ["a", "b", "c", "d"]) h.submit(id);
    expect(h.started).toEqual(["a", "b"]);
    expect(h.gate.load()).toMatchObject({ inFlight: 2, queued: 2, inFlightLimit: 2, queueLimit: 10 });
    await h.finish("b");
    expect(h.started).toEqual(["a", "b", "c"]);
    await h.finish("a");
    await h.finish("c");
    await h.finish("d");
    expect(h.gate.load()).toMatchObject({ inFlight: 0, queued: 0, refused: 0, dropped: 0 });
    expect(h.refused.size).toBe(0);
  });

  it("reject: a full queue refuses the new request, saying how busy it is", () => {
    const h = harness({ inFlight: 1, queue: 2, overflow: "reject" });
    for (const id of ["a", "b", "c", "d"]) h.submit(id);
    expect(h.started).toEqual(["a"]);
    expect([...h.refused.keys()]).toEqual(["d"]);
    expect(h.refused.get("d")!.code).toBe("busy");
    expect(h.refused.get("d")!.message).toMatch(/1 running \(--in-flight 1\) and 2 waiting \(--queue 2\)/);
    expect(h.gate.load()).toMatchObject({ inFlight: 1, queued: 2, refused: 1, dropped: 0, overflow: "reject" });
  });

  it("drop-oldest: a full queue drops its oldest waiting request for the new one", async () => {
    const h = harness({ inFlight: 1, queue: 2, overflow: "drop-oldest" });
    for (const id of ["a", "b", "c", "d", "e"]) h.submit(id);
    expect([...h.refused.keys()]).toEqual(["b", "c"]);
    expect(h.refused.get("b")!.code).toBe("dropped");
    expect(h.gate.load()).toMatchObject({ inFlight: 1, queued: 2, refused: 0, dropped: 2 });
    await h.finish("a");
    await h.finish("d");
    expect(h.started).toEqual(["a", "d", "e"]);
  });

  it("close refuses every waiting request and waits for the running ones", async () => {
    const h = harness({ inFlight: 1, queue: 5, overflow: "reject" });
    for (const id of ["a", "b", "c"]) h.submit(id);
    let closed = false;
    const closing = h.gate.close("stopping now").then(() => (closed = true));
    expect([...h.refused.keys()]).toEqual(["b", "c"]);
    expect(h.refused.get("b")!.message).toBe("stopping now");
    await h.finish("a");
    await closing;
    expect(closed).toBe(true);
    h.submit("d"); // after the stop: refused at once, not kept
    expect(h.started).toEqual(["a"]);
    expect(h.refused.get("d")!.code).toBe("stopping");
  });
});

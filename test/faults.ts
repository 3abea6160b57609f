/**
 * Faults injected by swapping an actor's dependency (STYLE.md point 11), and a log
 * sink to assert on the lines an actor writes.
 */
import type { Runtime } from "../dnn/runtime.js";

export interface Hold {
  /** Resolves when a run has been caught and is waiting; rejects when none comes within the time given. */
  readonly held: Promise<void>;
  /** Lets the caught run go on (or disarms the hold when nothing was caught). */
  release(): void;
}

/**
 * A runtime whose next run can be held until the test lets it go: a slow device on
 * demand, so a job is in flight for as long as the test needs.
 */
export function holdableRuntime(inner: Runtime): { runtime: Runtime; holdNext(timeoutMs?: number): Hold } {
  let trap: { caught: () => void; gate: Promise<void> } | undefined;
  const runtime: Runtime = {
    async compile(stage, exposed) {
      const compiled = await inner.compile(stage, exposed);
      return {
        input: compiled.input,
        outputs: compiled.outputs,
        release: () => compiled.release(),
        async run(x) {
          const t = trap;
          if (t) {
            trap = undefined;
            t.caught();
            await t.gate;
          }
          return compiled.run(x);
        },
      };
    },
  };
  return {
    runtime,
    holdNext(timeoutMs = 5_000) {
      if (trap) throw new Error("a hold is already armed");
      let open!: () => void;
      let caught!: () => void;
      let missed!: (err: Error) => void;
      const gate = new Promise<void>((r) => (open = r));
      const held = new Promise<void>((resolve, reject) => {
        caught = resolve;
        missed = reject;
      });
      const mine = { caught, gate };
      trap = mine;
      const timer = setTimeout(() => {
        if (trap !== mine) return;
        trap = undefined;
        missed(new Error(`no run to hold within ${timeoutMs} ms`));
      }, timeoutMs);
      mine.caught = () => {
        clearTimeout(timer);
        caught();
      };
      return {
        held,
        release() {
          clearTimeout(timer);
          if (trap === mine) trap = undefined;
          open();
        },
      };
    },
  };
}

/** Collects log lines; `waitFor` finds one written at or after index `from`. */
export function logBook() {
  const lines: string[] = [];
  let waiters: { re: RegExp; from: number; resolve: (line: string) => void }[] = [];
  return {
    lines,
    /** Where the next line will go: take it before causing the line, then wait from it. */
    mark: () => lines.length,
    push(line: string): void {
      lines.push(line);
      const index = lines.length - 1;
      const done = waiters.filter((w) => index >= w.from && w.re.test(line));
      waiters = waiters.filter((w) => !done.includes(w));
      for (const w of done) w.resolve(line);
    },
    waitFor(re: RegExp, from: number, timeoutMs = 5_000): Promise<string> {
      const found = lines.slice(from).find((l) => re.test(l));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(
            new Error(
              `no log line matching ${re} within ${timeoutMs} ms; since then:\n${lines.slice(from).join("\n")}`,
            ),
          );
        }, timeoutMs);
        const waiter = {
          re,
          from,
          resolve: (line: string) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        waiters.push(waiter);
      });
    },
  };
}

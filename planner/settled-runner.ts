/**
 * Runs a job once requests have been quiet for a while, one run at a time: requests
 * that arrive during a run are folded into one more run after it (the planner's
 * re-plans, which should see a roster that has settled and never overlap).
 */
export interface SettledRunner {
  /** Asks for a run settleMs from now, pushing back any run not yet started. */
  request(): void;
  /** No run starts from now on; the one under way, if any, carries on (see idle). */
  halt(): void;
  readonly halted: boolean;
  /** Resolves when the run under way, if any, has ended. */
  idle(): Promise<void>;
}

export function settledRunner(
  settleMs: number,
  job: () => Promise<void>,
  onError: (err: unknown) => void,
): SettledRunner {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let halted = false;

  const run = () => {
    timer = undefined;
    if (halted) return;
    if (running) {
      again = true;
      return;
    }
    running = job()
      .catch(onError)
      .finally(() => {
        running = undefined;
        if (again && !halted) {
          again = false;
          request();
        }
      });
  };
  const request = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, settleMs);
  };

  return {
    request,
    halt() {
      halted = true;
      if (timer) clearTimeout(timer);
    },
    get halted() {
      return halted;
    },
    idle: async () => {
      await running;
    },
  };
}

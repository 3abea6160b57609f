/**
 * A device's compute speed for its presence: one YOLOv2-like 3×3 convolution, run
 * again and again, and the speed it keeps up.
 *
 * Sustained, not the best burst: under a CPU quota (a cgroup's cpu.max, e.g. 0.25 core
 * = 25 ms of every 100 ms CFS period) a run that fits in one period's allowance goes at
 * the machine's full speed, and a best-of-a-few would announce a 0.25-core device about
 * 4× faster than it computes a whole stage. So the conv runs until at least
 * MIN_WALL_MS of wall time (several periods) and MIN_RUNS runs have passed, and the
 * speed is all the MACs over all that wall time. On a fast machine the conv takes ~15 ms,
 * so the probe ends just past MIN_WALL_MS: a device pays it once, at start-up.
 */
import type { Runtime } from "../../dnn/runtime.js";
import { uniformPads } from "../../dnn/ops.js";

/** Long enough for six 100 ms CFS periods, throttled ones included. */
export const MIN_WALL_MS = 600;
export const MIN_RUNS = 3;

const [C, K, HW] = [128, 128, 26];
/** Multiply-accumulates of one run of the probe's conv. */
export const PROBE_MACS = K * C * 9 * HW * HW;

export interface SpeedClock {
  /** Milliseconds, monotonic (performance.now()). */
  now(): number;
}

/**
 * GMAC/s the device sustains, to 3 significant digits (never rounded to 0, which a
 * presence refuses, however slow the device). `clock` is the wall clock unless given (tests).
 */
export async function measureGmacPerSec(runtime: Runtime, clock: SpeedClock = performance): Promise<number> {
  const weights = new Float32Array(K * C * 9).map((_, i) => ((i * 7919) % 101) / 1010 - 0.05);
  const stage = await runtime.compile({
    input: { c: C, h: HW, w: HW },
    ops: [
      {
        kind: "conv",
        inC: C,
        outC: K,
        size: 3,
        stride: 1,
        groups: 1,
        pads: uniformPads(1),
        weights,
        bias: new Float32Array(K),
        activation: "leaky",
      },
    ],
  });
  try {
    const x = new Float32Array(C * HW * HW).fill(0.5);
    await stage.run(x); // the first run sets up the session's buffers: not what later runs cost
    const start = clock.now();
    let runs = 0;
    let wallMs = 0;
    while (runs < MIN_RUNS || wallMs < MIN_WALL_MS) {
      await stage.run(x);
      runs++;
      wallMs = clock.now() - start;
    }
    return Number(((runs * PROBE_MACS) / 1e6 / wallMs).toPrecision(3));
  } finally {
    await stage.release();
  }
}

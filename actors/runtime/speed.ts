/** A device's compute speed for its presence: one YOLOv2-like 3×3 convolution, timed. */
import type { Runtime } from "../../dnn/runtime.js";
import { uniformPads } from "../../dnn/ops.js";

export async function measureGmacPerSec(runtime: Runtime): Promise<number> {
  const [c, k, hw] = [128, 128, 26];
  const weights = new Float32Array(k * c * 9).map((_, i) => ((i * 7919) % 101) / 1010 - 0.05);
  const stage = await runtime.compile({
    input: { c, h: hw, w: hw },
    ops: [
      {
        kind: "conv",
        inC: c,
        outC: k,
        size: 3,
        stride: 1,
        groups: 1,
        pads: uniformPads(1),
        weights,
        bias: new Float32Array(k),
        activation: "leaky",
      },
    ],
  });
  try {
    const x = new Float32Array(c * hw * hw).fill(0.5);
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await stage.run(x);
      best = Math.min(best, performance.now() - t);
    }
    const macs = k * c * 9 * hw * hw;
    return Math.round((macs / 1e9 / (best / 1000)) * 10) / 10;
  } finally {
    await stage.release();
  }
}

/**
 * Wire codecs' speed (broker/codecs.ts) on a YOLOv2 608 input-sized tensor
 * (3 × 608 × 608 float32, 4.4 MB): encoding from float32 and decoding back into a
 * float32 array, in GB/s of float32, one thread. The source encodes every tensor it
 * scatters, so these must stay far above its link rates (100 Mbit/s is 0.0125 GB/s).
 */
import { type Dtype, encodedBytes } from "../core/dtypes.js";
import { decodeInto, encodeTensor } from "../broker/codecs.js";
import { machine, medianMs, writeSection } from "./report.js";

const SHAPE = [3, 608, 608] as const;
/** Untimed runs first: the JIT, and float16's lookup table. */
const CODEC_WARMUPS = 3;

/** Activation-like values: mostly small, some large, a leaky ReLU's negatives. */
function activations(n: number): Float32Array {
  let seed = 1;
  const next = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  return Float32Array.from({ length: n }, () => {
    const x = (next() - 0.3) * 2 ** (next() * 8 - 4);
    return x < 0 ? 0.1 * x : x;
  });
}

export async function benchCodecs(o: { runs: number }): Promise<void> {
  const values = activations(SHAPE.reduce((a, b) => a * b, 1));
  const target = new Float32Array(values.length);
  const gbPerSec = (ms: number) => values.byteLength / 1e9 / (ms / 1000);
  const rows = (["float16", "q8"] as Dtype[]).map((dtype) => {
    const encoded = encodeTensor(dtype, values, "bench");
    const encodeMs = medianMs(o.runs, () => encodeTensor(dtype, values, "bench"), CODEC_WARMUPS);
    const decodeMs = medianMs(
      o.runs,
      () => decodeInto(dtype, encoded, values.length, { target }, "bench"),
      CODEC_WARMUPS,
    );
    return { dtype, bytes: encodedBytes(dtype, values.length), encodeMs, decodeMs };
  });
  for (const r of rows)
    console.log(
      `${r.dtype}: encode ${gbPerSec(r.encodeMs).toFixed(2)} GB/s (${r.encodeMs.toFixed(2)} ms), ` +
        `decode ${gbPerSec(r.decodeMs).toFixed(2)} GB/s (${r.decodeMs.toFixed(2)} ms)`,
    );
  const table = rows
    .map(
      (r) =>
        `| ${r.dtype} | ${(r.bytes / 1e6).toFixed(2)} MB (${(values.byteLength / r.bytes).toFixed(2)} ×) | ` +
        `${gbPerSec(r.encodeMs).toFixed(2)} GB/s (${r.encodeMs.toFixed(1)} ms) | ${gbPerSec(r.decodeMs).toFixed(2)} GB/s (${r.decodeMs.toFixed(1)} ms) |`,
    )
    .join("\n");
  writeSection(
    "codecs",
    `## Wire codecs: ${SHAPE.join(" × ")} float32 (${(values.byteLength / 1e6).toFixed(2)} MB)\n\n` +
      `${new Date().toISOString().slice(0, 10)} · ${machine()}\n\n` +
      `Median of ${o.runs} runs after a warm-up, one thread; GB/s of float32 in (encode) or out (decode).\n\n` +
      `| dtype | on the wire | encode | decode |\n|---|---|---|---|\n${table}\n`,
  );
}

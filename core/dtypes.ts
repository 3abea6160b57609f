/**
 * Element types edgefuse moves and stores, defined once: the wire code a tensor frame
 * carries (broker/frame.ts) and the bytes per element. darknet's .weights files, its
 * layer outputs and the cost model's C are float32; the other types exist only on the
 * wire (broker/codecs.ts), and every receiver decodes them back into float32.
 *
 * `bytes` is the size of one element on average (what a cost model multiplies by);
 * a blocked type adds `block`: `values` elements share one scale of `scaleBytes`
 * (each element is one byte), and the last block of a tensor may be shorter.
 */
export const DTYPES = {
  float32: { code: 1, bytes: 4 },
  /** IEEE 754 binary16. */
  float16: { code: 2, bytes: 2 },
  /** Blocks of 32 int8 values with one float16 scale (34 bytes per 32 values), as distributed-llama's Q80. */
  q8: { code: 3, bytes: (2 + 32) / 32, block: { values: 32, scaleBytes: 2 } },
  /** Image data: k/255 as darknet reads a pixel. */
  uint8: { code: 4, bytes: 1 },
} as const satisfies Record<string, { code: number; bytes: number; block?: { values: number; scaleBytes: number } }>;
export type Dtype = keyof typeof DTYPES;

/** Bytes of one float32: weights, activations, and 4·C for the cost model. */
export const FLOAT32_BYTES = DTYPES.float32.bytes;

/** The types an activation (a stage's input, output or partial sums) may travel as. */
export const ACTIVATION_DTYPES = ["float32", "float16", "q8"] as const satisfies readonly Dtype[];
export type ActivationDtype = (typeof ACTIVATION_DTYPES)[number];

/** The short names flags and plans use for the wire types. */
export const WIRE_DTYPES = { f32: "float32", f16: "float16", q8: "q8", u8: "uint8" } as const satisfies Record<
  string,
  Dtype
>;
export type WireName = keyof typeof WIRE_DTYPES;

/**
 * Exact bytes of `elements` values of `dtype`. A blocked type's last block, when
 * shorter, carries its scale and only the values it has (q8: 2 + r bytes for r < 32).
 */
export function encodedBytes(dtype: Dtype, elements: number): number {
  const type: { bytes: number; block?: { values: number; scaleBytes: number } } = DTYPES[dtype];
  if (!type.block) return elements * type.bytes;
  const { values, scaleBytes } = type.block;
  const rest = elements % values;
  return ((elements - rest) / values) * (scaleBytes + values) + (rest > 0 ? scaleBytes + rest : 0);
}

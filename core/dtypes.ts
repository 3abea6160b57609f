/**
 * Element types edgefuse moves and stores, defined once: the wire code a tensor frame
 * carries (broker/frame.ts) and the bytes per element. darknet's .weights files, its
 * layer outputs and the cost model's C are float32.
 */
export const DTYPES = {
  float32: { code: 1, bytes: 4 },
} as const satisfies Record<string, { code: number; bytes: number }>;
export type Dtype = keyof typeof DTYPES;

/** Bytes of one float32: weights, activations, and 4·C for the cost model. */
export const FLOAT32_BYTES = DTYPES.float32.bytes;

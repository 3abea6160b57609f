/** Tensor comparison used by the correctness suites: the oracle's tolerance rule. */
export interface Diff {
  maxAbs: number;
  maxRef: number;
  /** max |a − b| / max(1, max |ref|): the quantity the tolerance bounds. */
  relative: number;
}

export function diff(actual: Float32Array, reference: Float32Array): Diff {
  if (actual.length !== reference.length) throw new Error(`length mismatch: ${actual.length} != ${reference.length}`);
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - reference[i]!);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
    maxRef = Math.max(maxRef, Math.abs(reference[i]!));
  }
  return { maxAbs, maxRef, relative: maxAbs / Math.max(1, maxRef) };
}

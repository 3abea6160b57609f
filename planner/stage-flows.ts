/**
 * What each stage of a plan moves and computes per device slot, in elements and
 * multiplications: the latency model's input (latency.ts). The counting is the cost
 * model's (costs.ts layerCost), per device instead of summed, so Σ over slots of
 * scatter + gather is C for the stage:
 * - LOP: every part gets the layer's whole input, less the slice it kept from a LOP
 *   layer before (reuse), and returns its slice of the (carried) output;
 * - LIP: every part gets its slice of the input channels and returns partial sums of
 *   the whole output;
 * - FUSE: layer l's whole input (less a kept slice) in, partial sums of layer l+1 out;
 * - FTP: each tile device gets its tiles' input regions and returns their outputs.
 */
import type { FtpDevice } from "./ftp.js";
import type { StageFlows } from "./latency.js";
import { shares, type Slots } from "./parts.js";
import type { Unit } from "./units.js";

export type StageScheme = "lop" | "lip" | "fuse1";

/** Each unit's share per slot when its output channels are cut (LOP, FUSE1) and when its input channels are (LIP, FUSE2). */
export interface UnitCuts {
  output(k: number): readonly number[];
  input(k: number): readonly number[];
}

/** The cuts of a split, each computed once. */
export function unitCuts(units: readonly Unit[], split: Slots): UnitCuts {
  const out = new Map<number, number[]>();
  const into = new Map<number, number[]>();
  const cached = (m: Map<number, number[]>, k: number, scheme: "lop" | "lip") => {
    const f = m.get(k) ?? shares(units[k]!, scheme, split);
    m.set(k, f);
    return f;
  };
  return { output: (k) => cached(out, k, "lop"), input: (k) => cached(into, k, "lip") };
}

/**
 * The FTP stage: its tiles' regions in and out, their multiplications; the source
 * stitches the gathered output. Or each tile device decodes the request's image itself
 * (`imageDecodeMacs`) and cuts its regions from it.
 */
export function ftpFlows(ftp: readonly FtpDevice[], gatheredElements: number, imageDecodeMacs: number): StageFlows {
  return {
    scatter: ftp.map((d) => d.scatterElements),
    gather: ftp.map((d) => d.gatherElements),
    mults: ftp.map((d) => d.mults),
    writes: ftp.map((d) => d.writes),
    assembled: gatheredElements,
    image: { slots: ftp.map((d) => d.scatterElements > 0), decodeMacs: imageDecodeMacs },
  };
}

/** What a device holding all of a unit's output channels writes: the unit's output, and its carried layers' (a maxpool's). */
const sliceWrites = (u: Unit): number => u.outputs + (u.carried.length ? u.carriedOutputs : 0);

/**
 * The stage that starts at unit k: LOP or LIP on unit k alone, or FUSE1 on k with
 * FUSE2 on k+1. `reuse`: unit k−1 ran LOP and left each device its slice of k's input.
 */
export function unitFlows(
  units: readonly Unit[],
  k: number,
  scheme: StageScheme,
  reuse: boolean,
  cuts: UnitCuts,
): StageFlows {
  const u = units[k]!;
  const M = u.inputs;
  const kept = reuse ? cuts.output(k - 1) : undefined;
  const wholeInput = (f: number, d: number) => (f > 0 ? M - (kept ? M * kept[d]! : 0) : 0);
  if (scheme === "lop") {
    const f = cuts.output(k);
    return {
      scatter: f.map(wholeInput),
      sharedScatter: !kept,
      gather: f.map((x) => u.carriedOutputs * x),
      mults: f.map((x) => u.mults * x),
      writes: f.map((x) => sliceWrites(u) * x),
      assembled: u.carriedOutputs,
    };
  }
  if (scheme === "lip") {
    const f = cuts.input(k);
    const parts = f.filter((x) => x > 0).length;
    return {
      scatter: f.map((x) => M * x),
      gather: f.map((x) => (x > 0 ? u.outputs : 0)),
      mults: f.map((x) => u.mults * x),
      writes: f.map((x) => (x > 0 ? u.outputs : 0)),
      assembled: u.outputs * parts,
    };
  }
  const next = units[k + 1]!;
  const f1 = cuts.output(k);
  const f2 = cuts.input(k + 1);
  const parts = f2.filter((x) => x > 0).length;
  return {
    scatter: f1.map(wholeInput),
    sharedScatter: !kept,
    gather: f2.map((x) => (x > 0 ? next.outputs : 0)),
    mults: f1.map((x, d) => u.mults * x + next.mults * f2[d]!),
    writes: f1.map((x, d) => sliceWrites(u) * x + (f2[d]! > 0 ? next.outputs : 0)),
    assembled: next.outputs * parts,
  };
}

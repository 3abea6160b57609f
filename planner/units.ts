/**
 * The weight-partitioned part of a network, seen the way the ILP sees it.
 *
 * Every weighted layer (convolutional, connected) at or after the FTP boundary is
 * one *unit*: one scheme decision (LOP, LIP, FUSE1, FUSE2). Weightless layers that
 * act on each channel separately (maxpool, avgpool, dropout) are *carried*: after a
 * LOP or FUSE1 unit every device applies them to its own channel slice, so the slice
 * it holds is still a slice of the next unit's input (reuse, fusion). Everything else
 * (route, reorg, region, softmax) is a sync point run on the full tensor at the
 * source, and nothing fuses or reuses across it.
 */
import { PlanError } from "../core/errors.js";
import { isChannelwise, isWeighted } from "../dnn/layer-traits.js";
import type { Network } from "../dnn/network.js";

export interface Unit {
  /** darknet layer index. */
  readonly layer: number;
  readonly kind: "convolutional" | "connected";
  /** M: input elements. */
  readonly inputs: number;
  /** K: output elements. */
  readonly outputs: number;
  /** Q: weights; R: multiplications (paper eqs. 2 and 5). */
  readonly weights: number;
  readonly mults: number;
  readonly channelsIn: number;
  readonly channelsOut: number;
  /**
   * Channel-wise layers after this unit that a device runs on its own slice when
   * this unit ends in finished outputs (LOP, FUSE1). Empty when the unit's raw output
   * is needed whole elsewhere (a route points at it), so it must be gathered first.
   */
  readonly carried: readonly number[];
  /** Elements a LOP device sends back: K after the carried layers shrank it. */
  readonly carriedOutputs: number;
  /** The next unit's input is this unit's (carried) output: a LOP slice is reusable there. */
  readonly reusableByNext: boolean;
  /** …and additionally this output is never needed whole, so FUSE1 here is allowed. */
  readonly fusableWithNext: boolean;
}

/** Indices of layers whose output some route reads (so it must exist whole at the source). */
export function routedLayers(network: Network): Set<number> {
  const routed = new Set<number>();
  for (const l of network.layers) if (l.kind === "route") for (const src of l.layers) routed.add(src);
  return routed;
}

/**
 * The units of layers [start, L). Throws PlanError for a weighted layer that cannot be
 * channel-partitioned (grouped convolution).
 */
export function partitionUnits(network: Network, start: number): Unit[] {
  const { layers } = network;
  const routed = routedLayers(network);
  const units: Unit[] = [];
  for (let i = start; i < layers.length; i++) {
    const layer = layers[i]!;
    if (layer.kind !== "convolutional" && layer.kind !== "connected") continue;
    if (layer.kind === "convolutional" && layer.groups !== 1) {
      throw new PlanError(
        `layer ${i}: grouped convolution (groups=${layer.groups}) cannot be channel-partitioned; keep it inside the FTP stage`,
      );
    }
    // Walk the channel-wise layers that follow, up to the next weighted or sync layer.
    let j = i + 1;
    while (j < layers.length && isChannelwise(layers[j]!)) j++;
    const chain = Array.from({ length: j - i - 1 }, (_, k) => i + 1 + k);
    // If a route reads the unit's output or an intermediate carried output, the raw
    // tensor must reach the source before the carried layers run: carry nothing.
    const carryBlocked = [i, ...chain.slice(0, -1)].some((l) => chain.length > 0 && routed.has(l));
    const carried = carryBlocked ? [] : chain;
    const last = carried.length ? layers[carried.at(-1)!]! : layer;
    const next = layers[j];
    const reusableByNext = !carryBlocked && next !== undefined && isWeighted(next);
    const fusableWithNext = reusableByNext && ![i, ...chain].some((l) => routed.has(l));
    units.push({
      layer: i,
      kind: layer.kind,
      inputs: layer.stats.inputs,
      outputs: layer.stats.outputs,
      weights: layer.stats.weights,
      mults: layer.stats.mults,
      channelsIn: layer.input.c,
      channelsOut: layer.output.c,
      carried,
      carriedOutputs: last.stats.outputs,
      reusableByNext,
      fusableWithNext,
    });
  }
  return units;
}

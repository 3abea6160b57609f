/**
 * What each darknet layer kind is, for every part that has to ask: one table.
 *
 * - weighted: holds weights (onnxruntime computes it; the planner partitions it; its
 *   parameters are in the .weights file).
 * - channelwise: computes every channel on its own, so it runs on a device's channel
 *   slice (the planner carries it after a LOP or FUSE1 layer).
 * - spatiallyLocal: each output pixel depends on a small window of the input, so an FTP
 *   tile can be traced back through it.
 * - host: moves data rather than multiplying (plain JavaScript, never onnxruntime).
 * - identity: returns its input unchanged at inference (no op at all).
 */
import type { ConnectedLayer, ConvLayer, Layer } from "./layers.js";

export interface LayerTraits {
  readonly weighted: boolean;
  readonly channelwise: boolean;
  readonly spatiallyLocal: boolean;
  readonly host: boolean;
  readonly identity: boolean;
}

const trait = (t: Partial<LayerTraits>): LayerTraits => ({
  weighted: false,
  channelwise: false,
  spatiallyLocal: false,
  host: false,
  identity: false,
  ...t,
});

export const LAYER_TRAITS = {
  convolutional: trait({ weighted: true, spatiallyLocal: true }),
  connected: trait({ weighted: true }),
  maxpool: trait({ channelwise: true, spatiallyLocal: true }),
  avgpool: trait({ channelwise: true }),
  dropout: trait({ channelwise: true, spatiallyLocal: true, identity: true }),
  route: trait({ host: true }),
  reorg: trait({ host: true }),
  softmax: trait({ host: true }),
  region: trait({ host: true }),
} as const satisfies Record<Layer["kind"], LayerTraits>;

export const traitsOf = (layer: Pick<Layer, "kind">): LayerTraits => LAYER_TRAITS[layer.kind];

export type WeightedLayer = ConvLayer | ConnectedLayer;
export const isWeighted = (layer: Layer): layer is WeightedLayer => traitsOf(layer).weighted;
export const isChannelwise = (layer: Pick<Layer, "kind">): boolean => traitsOf(layer).channelwise;
export const isSpatiallyLocal = (layer: Pick<Layer, "kind">): boolean => traitsOf(layer).spatiallyLocal;
export const runsOnHost = (layer: Pick<Layer, "kind">): boolean => traitsOf(layer).host;
export const isIdentity = (layer: Pick<Layer, "kind">): boolean => traitsOf(layer).identity;

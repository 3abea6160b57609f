/**
 * The layers of a darknet network as this project models them: their shapes, their
 * options, and per layer the quantities the paper's cost model uses (weights Q,
 * multiplications R, input size M, output size K).
 */
export interface Shape {
  readonly c: number;
  readonly h: number;
  readonly w: number;
}
export const shapeSize = (s: Shape): number => s.c * s.h * s.w;
export const shapeText = (s: Shape): string => `${s.c}×${s.h}×${s.w}`;

export const ACTIVATIONS = ["linear", "leaky", "relu", "logistic"] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** The paper's per-layer quantities, in elements (not bytes). */
export interface LayerStats {
  /** Q: weights (no biases / BN), what the paper partitions. */
  readonly weights: number;
  /** Every stored parameter: weights + biases (+ BN scales, means, variances). */
  readonly params: number;
  /** R: multiplications. */
  readonly mults: number;
  /** M: input elements. */
  readonly inputs: number;
  /** K: output elements. */
  readonly outputs: number;
}

interface LayerCommon {
  readonly index: number;
  /** Line of the section header in the cfg, for messages. */
  readonly line: number;
  readonly input: Shape;
  readonly output: Shape;
  readonly stats: LayerStats;
}

export interface ConvLayer extends LayerCommon {
  readonly kind: "convolutional";
  readonly filters: number;
  readonly size: number;
  readonly stride: number;
  /** Zero padding on every side (darknet: pad=1 means size/2; `padding` sets it directly). */
  readonly pad: number;
  readonly groups: number;
  readonly batchNormalize: boolean;
  readonly activation: Activation;
}
export interface MaxpoolLayer extends LayerCommon {
  readonly kind: "maxpool";
  readonly size: number;
  readonly stride: number;
  /** darknet's total padding; `padding/2` goes before, the rest after. */
  readonly padding: number;
}
export interface AvgpoolLayer extends LayerCommon {
  readonly kind: "avgpool";
}
export interface RouteLayer extends LayerCommon {
  readonly kind: "route";
  /** Absolute indices of the layers whose outputs are concatenated (channel-wise). */
  readonly layers: readonly number[];
}
export interface ReorgLayer extends LayerCommon {
  readonly kind: "reorg";
  readonly stride: number;
}
export interface ConnectedLayer extends LayerCommon {
  readonly kind: "connected";
  readonly batchNormalize: boolean;
  readonly activation: Activation;
}
export interface DropoutLayer extends LayerCommon {
  readonly kind: "dropout";
}
export interface SoftmaxLayer extends LayerCommon {
  readonly kind: "softmax";
  readonly groups: number;
  readonly temperature: number;
}
export interface RegionLayer extends LayerCommon {
  readonly kind: "region";
  readonly anchors: readonly number[];
  readonly classes: number;
  readonly coords: number;
  readonly num: number;
  readonly softmax: boolean;
}

export type Layer =
  | ConvLayer
  | MaxpoolLayer
  | AvgpoolLayer
  | RouteLayer
  | ReorgLayer
  | ConnectedLayer
  | DropoutLayer
  | SoftmaxLayer
  | RegionLayer;
export type LayerKind = Layer["kind"];

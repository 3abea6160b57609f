/**
 * A darknet network: the layers of a .cfg, built in order with darknet's shape rules
 * (layer-builders.ts), and the totals of the paper's per-layer quantities.
 */
import { CfgError } from "../core/errors.js";
import { type CfgFile, readCfgFile } from "./cfg.js";
import { builders, MAX_TENSOR_VALUES } from "./layer-builders.js";
import { type Layer, type LayerStats, type Shape, shapeSize, shapeText } from "./layers.js";
import { isSectionType, parseSection } from "./section-options.js";

export interface Network {
  readonly file: string;
  /** The cfg text, as read. */
  readonly cfgText: string;
  readonly input: Shape;
  readonly layers: readonly Layer[];
  /** Weights Q summed over layers. */
  readonly totalWeights: number;
  /** Every stored parameter, as the .weights file holds them. */
  readonly totalParams: number;
  readonly totalMults: number;
}

export function buildNetwork(cfg: CfgFile): Network {
  const [netSection, ...layerSections] = cfg.sections;
  if (!netSection || (netSection.type !== "net" && netSection.type !== "network")) {
    throw new CfgError(cfg.file, netSection?.line ?? 1, undefined, "the first section must be [net]");
  }
  const net = parseSection(cfg.file, netSection, "net");
  const input: Shape = { c: net.channels, h: net.height, w: net.width };
  if (shapeSize(input) > MAX_TENSOR_VALUES)
    throw new CfgError(
      cfg.file,
      netSection.line,
      undefined,
      `the input width × height × channels = ${shapeText(input)} = ${shapeSize(input)} values, over the limit of ${MAX_TENSOR_VALUES} a tensor may hold`,
    );
  if (layerSections.length === 0) throw new CfgError(cfg.file, netSection.line, undefined, "no layers after [net]");
  const layers: Layer[] = [];
  let current = input;
  for (const section of layerSections) {
    if (!isSectionType(section.type) || section.type === "net") {
      throw new CfgError(
        cfg.file,
        section.line,
        undefined,
        `unknown section [${section.type}] (supported: ${Object.keys(builders).join(", ")})`,
      );
    }
    const layer = builders[section.type]({
      file: cfg.file,
      section,
      index: layers.length,
      input: current,
      built: layers,
    });
    layers.push(layer);
    current = layer.output;
  }
  const sum = (f: (s: LayerStats) => number) => layers.reduce((a, l) => a + f(l.stats), 0);
  return {
    file: cfg.file,
    cfgText: cfg.text,
    input,
    layers,
    totalWeights: sum((s) => s.weights),
    totalParams: sum((s) => s.params),
    totalMults: sum((s) => s.mults),
  };
}

export function loadNetwork(cfgPath: string): Network {
  return buildNetwork(readCfgFile(cfgPath));
}

/**
 * What `edgefuse lab` and `edgefuse experiment` share: the scheme names, the default
 * CPU shares, the model (YOLOv2 with seeded synthetic weights unless given), and the
 * root check that comes before any flag is acted on.
 */
import { CACHE_DIR, modelCfg } from "../core/paths.js";
import { LabError } from "../core/errors.js";
import { loadNetwork } from "../dnn/network.js";
import { cachedSyntheticWeights } from "../dnn/synthetic.js";
import type { LabScheme } from "./experiment.js";
import type { LabPlanning } from "./hub-protocol.js";
import { STRATEGIES, type Strategy } from "../planner/schemes.js";
import { PAPER_YOLOV2 } from "../planner/strategies.js";

/** `--scheme` names: the planner's strategies, spelt as `edgefuse plan --scheme` spells them. */
export { STRATEGIES };
export type SchemeName = Strategy;
export const isSchemeName = (s: string): s is SchemeName => (STRATEGIES as readonly string[]).includes(s);

/** Each device's CPU unless told: a fixed quarter of a core, so 7 devices fit this 2-core machine and N devices can be set beside one of the same kind. */
export const DEFAULT_CPU_SHARE = 0.25;
/** `--cpu shared`: the CPU the lab's devices share, 1.6 of this machine's 2 cores (the rest runs the broker, planner and this process), divided among them. */
export const CPU_BUDGET = 1.6;
export const defaultCpuShare = (devices: number): number =>
  Math.max(0.2, Math.round((CPU_BUDGET / devices) * 100) / 100);

export function scheme(name: SchemeName, ftpEnd: LabPlanning["ftpEnd"]): LabScheme {
  // "paper" fixes its own FTP (layers 0–11).
  const planning: LabPlanning = { strategy: name, ftpEnd: name === "paper" ? PAPER_YOLOV2.ftpEnd : ftpEnd };
  return { label: name === "paper" ? "paper" : `${name}@ftp${ftpEnd}`, planning };
}

/** The cfg and weights to run: as given, or YOLOv2 608 with seeded synthetic weights (cached). */
export function resolveModel(cfg: string | undefined, weights: string | undefined): { cfg: string; weights: string } {
  if (cfg && weights) return { cfg, weights };
  const yolo = modelCfg("yolov2");
  return { cfg: yolo, weights: cachedSyntheticWeights(loadNetwork(yolo), 1, CACHE_DIR).path };
}

export function assertRoot(command: string): void {
  if (process.getuid?.() !== 0) {
    throw new LabError(
      `edgefuse ${command} needs root: it creates network namespaces, tc qdiscs and cgroups (try sudo)`,
    );
  }
}

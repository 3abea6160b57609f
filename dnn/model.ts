/** A network with its weights, ready to run on this device. */
import { createEngine, type Engine, type EngineOptions } from "./engine.js";
import { loadNetwork, type Network } from "./network.js";
import { onnxRuntime } from "./onnx/runtime.js";
import { openWeights } from "./weights.js";

export interface LoadOptions {
  readonly threads?: number;
  readonly keepAll?: boolean;
  readonly grouping?: EngineOptions["grouping"];
}

export async function loadModel(
  cfgPath: string,
  weightsPath: string,
  options: LoadOptions = {},
): Promise<{ network: Network; engine: Engine }> {
  const network = loadNetwork(cfgPath);
  const weights = openWeights(weightsPath, network);
  try {
    const engine = await createEngine(network, weights, {
      runtime: onnxRuntime({ threads: options.threads ?? 1 }),
      keepAll: options.keepAll ?? false,
      ...(options.grouping ? { grouping: options.grouping } : {}),
    });
    return { network, engine };
  } finally {
    weights.close();
  }
}

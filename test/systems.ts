/** The local system (actors/system.ts) on yolov2-tiny with its darknet reference's weights, as the traffic and fault suites start it. */
import { join } from "node:path";
import { type LocalSystem, type SystemOptions, startLocalSystem } from "../actors/system.js";
import { loadNetwork } from "../dnn/network.js";
import { cfgPath, readOracle } from "./fixtures.js";

export function startTinySystem(
  options: Pick<SystemOptions, "devices" | "workers"> & Partial<SystemOptions>,
): Promise<LocalSystem> {
  const tiny = readOracle("yolov2-tiny-s1-dog");
  return startLocalSystem({
    network: loadNetwork(cfgPath("yolov2-tiny")),
    weightsPath: join(tiny.dir, tiny.weights),
    port: 0,
    log: () => undefined,
    // One speed for every device unless a suite says otherwise (undefined: measured): plans that do not vary with the machine's load, and no probe.
    gmacPerSec: 50,
    ...options,
  });
}

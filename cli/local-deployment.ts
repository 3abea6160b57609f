/**
 * A deployment on this machine for a command that only sends it requests (`eval
 * --cfg`, `demo --model fashion`): the embedded broker on a free port, the planner,
 * the source and N−1 worker processes, planned to split the network over all N (the
 * paper's least-communication objective: the latency objective would rightly keep a
 * network this small on one device), and a connection to it.
 */
import type { Bus } from "../broker/bus.js";
import { connectBus } from "../broker/bus.js";
import { topicsFor, type Topics } from "../broker/topics.js";
import type { PlanOptions } from "../planner/build.js";

export interface LocalDeployment {
  readonly bus: Bus;
  readonly topics: Topics;
  /** The plan in force, as the source names it. */
  readonly plan: string;
  stop(): Promise<void>;
}

export async function startLocalDeployment(o: {
  cfg: string;
  weights: string;
  devices: number;
  wire: PlanOptions["wire"];
  /** The class names the source's results carry. */
  classNames?: readonly string[];
  log: (line: string) => void;
}): Promise<LocalDeployment> {
  // Loaded here: onnxruntime and the image libraries take a while.
  const [{ loadNetwork }, { startLocalSystem }] = await Promise.all([
    import("../dnn/network.js"),
    import("../actors/system.js"),
  ]);
  const system = await startLocalSystem({
    network: loadNetwork(o.cfg),
    weightsPath: o.weights,
    devices: o.devices,
    port: 0,
    planning: { objective: "comm", wire: o.wire },
    ...(o.classNames && { classNames: o.classNames }),
    log: o.log,
  });
  try {
    const plan = await system.source.ready(300_000);
    const bus = await connectBus(system.brokerUrl, { clientId: `client-${process.pid}` });
    return {
      bus,
      topics: topicsFor(system.deployment),
      plan,
      stop: async () => {
        await bus.close();
        await system.stop();
      },
    };
  } catch (err) {
    await system.stop();
    throw err;
  }
}

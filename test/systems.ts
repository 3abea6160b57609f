/**
 * Systems under test: the local system (actors/system.ts) on yolov2-tiny with its
 * darknet reference's weights, as the traffic and fault suites start it; the oracle
 * fixtures with their single-device outputs; and one request through the broker.
 */
import { join } from "node:path";
import { expect } from "vitest";
import { resultsSchema } from "../actors/source/source.js";
import { type LocalSystem, type SystemOptions, startLocalSystem } from "../actors/system.js";
import { connectBus } from "../broker/bus.js";
import { encodeFrame } from "../broker/frame.js";
import { decodeJson } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { createEngine } from "../dnn/engine.js";
import { loadNetwork, type Network } from "../dnn/network.js";
import { readWeights } from "../dnn/weights.js";
import { inbox } from "./brokers.js";
import { cfgPath, readF32, readOracle } from "./fixtures.js";

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

/** An oracle network with darknet's seeded weights, its input tensor, and the single-device output for it. */
export interface Fixture {
  network: Network;
  weightsPath: string;
  input: Float32Array;
  reference: Float32Array;
}

export async function fixture(name: string): Promise<Fixture> {
  const oracle = readOracle(name);
  const network = loadNetwork(cfgPath(oracle.cfg.replace(/\.cfg$/, "")));
  const weightsPath = join(oracle.dir, oracle.weights);
  const input = readF32(join(oracle.dir, oracle.input_file));
  const reference = await singleDevice(network, weightsPath, input);
  return { network, weightsPath, input, reference };
}

/** What one device computes for `input`: the engine on the whole network. */
export async function singleDevice(network: Network, weightsPath: string, input: Float32Array): Promise<Float32Array> {
  const engine = await createEngine(network, readWeights(weightsPath, network));
  try {
    return (await engine.forward(input)).output;
  } finally {
    await engine.release();
  }
}

/**
 * Publishes `payload` (an image's bytes, or a tensor frame) on infer/<requestId>;
 * resolves with the result JSON and the source's output tensor (from `outputs`, which
 * the system's onOutput fills).
 */
export async function inferOnce(
  system: LocalSystem,
  outputs: Map<string, Float32Array>,
  payload: Uint8Array,
  requestId: string,
) {
  const topics = topicsFor(system.deployment);
  const bus = await connectBus(system.brokerUrl, { clientId: `test-${requestId}` });
  try {
    const answers = inbox<{ topic: string; payload: Buffer }>();
    await bus.subscribe([topics.results(requestId), topics.errors(requestId)], {
      onMessage: (topic, payload) => answers.push({ topic, payload }),
      onError: (err, topic) =>
        answers.push({ topic: `a broken message on ${topic}`, payload: Buffer.from(err.message) }),
    });
    await bus.publish(topics.infer(requestId), payload);
    const answer = await answers.next(60_000, `an answer to ${requestId}`);
    expect(answer.topic, answer.payload.toString()).toBe(topics.results(requestId));
    return { result: decodeJson(answer.topic, answer.payload, resultsSchema), output: outputs.get(requestId)! };
  } finally {
    await bus.close();
  }
}

/** The input as a whole-tensor request (chunked like any large message). */
export function inferTensor(
  system: LocalSystem,
  outputs: Map<string, Float32Array>,
  input: Float32Array,
  network: Network,
  requestId: string,
) {
  const { c, h, w } = network.input;
  const frame = encodeFrame({ jobId: requestId, layer: 0, part: 0, shape: [c, h, w] }, input);
  return inferOnce(system, outputs, frame, requestId);
}

/**
 * The local system on a fixture's network and weights, `devices` of them with inline
 * workers, every finished job's output kept in `outputs`, and the source ready.
 */
export async function startFixtureSystem(
  f: Fixture,
  devices: number,
  outputs: Map<string, Float32Array>,
  options: Partial<SystemOptions>,
): Promise<LocalSystem> {
  const system = await startLocalSystem({
    network: f.network,
    weightsPath: f.weightsPath,
    devices,
    port: 0,
    workers: "inline",
    log: () => undefined,
    onOutput: (id, out) => void outputs.set(id, out),
    ...options,
  });
  await system.source.ready();
  return system;
}

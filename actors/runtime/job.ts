/**
 * One inference through a schedule, as the source runs it: for each stage, cut the
 * current tensor for every task, hand the tasks to a dispatcher (over MQTT, or all on
 * this device), and assemble what comes back; layers the source owns run here.
 */
import { ShapeError } from "../../core/errors.js";
import { mergePartials, runHostLayer } from "../../dnn/host.js";
import { isIdentity, runsOnHost } from "../../dnn/layer-traits.js";
import { shapeSize } from "../../dnn/layers.js";
import type { Network } from "../../dnn/network.js";
import type { CompiledStage, Runtime } from "../../dnn/runtime.js";
import { layerOp } from "../../dnn/slices.js";
import type { StageTrace } from "../../broker/messages.js";
import type { ShardFetcher } from "./executor.js";
import type { DistributedStage, Schedule, Stage, Task } from "./schedule.js";
import { cutForSend, paste } from "./tensors.js";

export interface TaskOutcome {
  readonly output: Float32Array;
  readonly computeMs: number;
  /** Bytes the device sent and received for this task over its link (0 on the source's own device). */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** How its input and output travelled: a frame's dtype, or "image" (none on the source's own device). */
  readonly wire?: { readonly input: string; readonly output: string };
  /** Its input came with the stage's one layerIn message, published once for every device that reads it. */
  readonly sharedInput?: boolean;
}

/** Gets a task done somewhere: on this device or on the worker the plan names. */
export interface Dispatcher {
  /** `image`: the request's encoded image, which an FTP task whose wire says so gets instead of `payload`. */
  run(task: Task, jobId: string, payload: Float32Array, image?: Uint8Array): Promise<TaskOutcome>;
}

/** What the source prepares once per plan. */
export interface SourcePrepared {
  readonly network: Network;
  readonly schedule: Schedule;
  /** Channel-wise layers the source runs itself on whole tensors (e.g. a maxpool after a merge). */
  readonly local: ReadonlyMap<number, CompiledStage>;
  /** Biases the source adds when it merges partial sums, by layer. */
  readonly biases: ReadonlyMap<number, Float32Array>;
}

export async function prepareSource(
  network: Network,
  schedule: Schedule,
  runtime: Runtime,
  fetchShard: ShardFetcher,
): Promise<SourcePrepared> {
  const local = new Map<number, CompiledStage>();
  const biases = new Map<number, Float32Array>();
  for (const stage of schedule.stages) {
    if (stage.kind === "source") {
      const layer = network.layers[stage.layer]!;
      if (!runsOnHost(layer) && !isIdentity(layer))
        local.set(layer.index, await runtime.compile({ input: layer.input, ops: [layerOp(layer)] }));
    } else if (stage.assemble.kind === "merge") {
      const { layer, biasShard } = stage.assemble;
      const entry = (await fetchShard(biasShard)).find((e) => e.layer === layer);
      if (!entry?.params.bias)
        throw new ShapeError(`bias shard ${biasShard.slice(0, 12)}… holds no biases for layer ${layer}`);
      biases.set(layer, entry.params.bias);
    }
  }
  return { network, schedule, local, biases };
}

export async function releaseSource(prepared: SourcePrepared): Promise<void> {
  await Promise.all([...prepared.local.values()].map((s) => s.release()));
}

export interface JobResult {
  readonly output: Float32Array;
  readonly trace: StageTrace[];
}

const schemeName = (stage: Stage) => (stage.kind === "source" ? "SOURCE" : stage.scheme.toUpperCase());

/**
 * Runs the job; `image`: the request's encoded image, when it came as one (FTP tile devices may
 * decode it themselves); `onStage` hears each stage's trace as the stage ends (the source's trace topic).
 */
export async function runSchedule(
  prepared: SourcePrepared,
  dispatcher: Dispatcher,
  jobId: string,
  input: Float32Array,
  image?: Uint8Array,
  onStage?: (stage: StageTrace, index: number) => void,
): Promise<JobResult> {
  const { network } = prepared;
  if (input.length !== shapeSize(network.input))
    throw new ShapeError(
      `job ${jobId}: input has ${input.length} floats, the network takes ${shapeSize(network.input)}`,
    );
  // Outputs by layer: routes read earlier layers (only assembled outputs exist here).
  const outputs: (Float32Array | undefined)[] = new Array(network.layers.length);
  const trace: StageTrace[] = [];
  const record = (stage: StageTrace) => {
    trace.push(stage);
    onStage?.(stage, trace.length - 1);
  };
  let current = input;
  for (const stage of prepared.schedule.stages) {
    const started = performance.now();
    if (stage.kind === "source") {
      const layer = network.layers[stage.layer]!;
      const compiled = prepared.local.get(layer.index);
      current = compiled
        ? (await compiled.run(current))[0]!
        : isIdentity(layer)
          ? current
          : runHostLayer(layer, outputs, current);
      outputs[layer.index] = current;
      record({
        layers: [layer.index, layer.index],
        scheme: schemeName(stage),
        wallMs: performance.now() - started,
        devices: [],
      });
      continue;
    }
    const results = await Promise.all(
      stage.tasks.map((task) =>
        dispatcher.run(
          task,
          jobId,
          cutForSend(current, stage.input, task.send),
          stage.scheme === "ftp" ? image : undefined,
        ),
      ),
    );
    current = assemble(
      prepared,
      stage,
      results.map((r) => r.output),
    );
    outputs[stage.layers[1]] = current;
    record({
      layers: [stage.layers[0], stage.layers[1]],
      scheme: schemeName(stage),
      wallMs: performance.now() - started,
      devices: stage.tasks.map((t, i) => ({
        workerId: t.workerId,
        computeMs: results[i]!.computeMs,
        bytesSent: results[i]!.bytesSent,
        bytesReceived: results[i]!.bytesReceived,
        ...(results[i]!.wire ? { wire: results[i]!.wire } : {}),
        ...(results[i]!.sharedInput ? { sharedInput: true } : {}),
      })),
    });
  }
  return { output: current, trace };
}

function assemble(prepared: SourcePrepared, stage: DistributedStage, parts: Float32Array[]): Float32Array {
  const out = stage.output;
  switch (stage.assemble.kind) {
    case "stitch": {
      const whole = new Float32Array(shapeSize(out));
      for (const [i, rect] of stage.assemble.rects.entries()) paste(whole, out, parts[i]!, rect);
      return whole;
    }
    case "concat": {
      const hw = out.h * out.w;
      const whole = new Float32Array(shapeSize(out));
      stage.assemble.ranges.forEach(([c0, c1], i) => {
        if (parts[i]!.length !== (c1 - c0) * hw)
          throw new ShapeError(
            `layers ${stage.layers.join("–")}: part ${i} sent ${parts[i]!.length} floats for channels [${c0}, ${c1})`,
          );
        whole.set(parts[i]!, c0 * hw);
      });
      return whole;
    }
    case "merge": {
      const bias = prepared.biases.get(stage.assemble.layer);
      if (!bias) throw new ShapeError(`layer ${stage.assemble.layer}: no biases prepared for the merge`);
      return mergePartials(parts, bias, stage.assemble.activation);
    }
  }
}

/** All tasks on one executor-like runner: the plan executed on this device (tests, `run --plan`). */
export function localDispatcher(
  run: (task: Task, jobId: string, payload: Float32Array) => Promise<{ output: Float32Array; computeMs: number }>,
): Dispatcher {
  return {
    run: async (task, jobId, payload) => ({ ...(await run(task, jobId, payload)), bytesSent: 0, bytesReceived: 0 }),
  };
}

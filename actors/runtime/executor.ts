/**
 * Runs tasks on this device: builds each task's ops from its weight shards, compiles
 * them once (an LRU of compiled stages bounded by the device's memory budget), puts a
 * kept slice back into the input for reuse, and keeps outputs the next stage reuses.
 * Workers and the source's own device share it.
 */
import { ShapeError } from "../../core/errors.js";
import { shapeSize, shapeText } from "../../dnn/layers.js";
import type { Network } from "../../dnn/network.js";
import { DEVICE_RUNTIME_OPTIONS } from "../../dnn/onnx/runtime.js";
import type { CompiledStage, Runtime } from "../../dnn/runtime.js";
import type { ComputeOp } from "../../dnn/ops.js";
import type { ShardEntry } from "../../dnn/shard.js";
import { type Cut, cutOp } from "../../dnn/slices.js";
import type { Task } from "./schedule.js";
import { isIdentity } from "../../dnn/layer-traits.js";
import { FLOAT32_BYTES } from "../../core/dtypes.js";

export type ShardFetcher = (sha256: string) => Promise<readonly ShardEntry[]>;

export interface ExecutorOptions {
  readonly runtime: Runtime;
  readonly fetchShard: ShardFetcher;
  /** Weight bytes of compiled stages kept at most; the least recently used go first. */
  readonly memoryBudgetBytes: number;
  /** A kept slice nobody asked for is dropped after this long (a job that died). */
  readonly keptTtlMs: number;
}

export interface TaskRun {
  readonly output: Float32Array;
  readonly computeMs: number;
}

interface Compiled {
  readonly stage: CompiledStage;
  readonly weightBytes: number;
}

/** Growth of a device's buffers past what its last collection left, before it collects again (see collectIfGrown). */
const GARBAGE_LIMIT_BYTES = 24 << 20;

/** Buffers still referenced after the process's last collection: what a collection cannot free. */
let liveAfterCollect = 0;

/**
 * Buffers a device no longer needs (a shard once onnxruntime holds its weights, the
 * serialised model) are collected now rather than whenever V8 gets to them: that
 * garbage, not the weights, would set the device's peak memory. `gc` exists when node
 * runs with --expose-gc, as bin/edgefuse starts it.
 */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  gc();
  liveAfterCollect = process.memoryUsage().arrayBuffers;
}

/**
 * Collects when buffers have grown by GARBAGE_LIMIT_BYTES since the last collection
 * left them. Measured against what that collection could not free (kept slices, the
 * job's live tensors) rather than against zero: on the source, whose job tensors
 * alone exceed the limit, the absolute test ran a full collection before nearly
 * every task (YOLOv2, 6 devices: ~0.3 s of the source's CPU per request).
 */
function collectIfGrown(): void {
  if (process.memoryUsage().arrayBuffers - liveAfterCollect > GARBAGE_LIMIT_BYTES) collectGarbage();
}

/**
 * Returns a counter of received bytes that runs a scavenge (V8's young-generation
 * collection, a fraction of a millisecond) after every `bytes` of them. mqtt.js hands
 * each packet over in a buffer of its own, copied out of the socket's 64 KB reads, and
 * both are garbage as soon as the chunk is reassembled; V8 collects for such external
 * memory only much later, so a worker receiving YOLOv2's 10 MB layer-2 slice (N = 6)
 * held up to 30 MB of dead packet and socket buffers besides it, and that was the
 * worker's peak. Those buffers die young, so the cheap young-generation collection
 * frees them (peaks 5 MB lower); what survives is left to collectGarbage.
 */
export function scavengeEvery(bytes: number): (received: number) => void {
  const gc = (globalThis as { gc?: (options: { type: "minor" }) => void }).gc;
  let since = 0;
  return (received) => {
    since += received;
    if (since < bytes || !gc) return;
    since = 0;
    gc({ type: "minor" });
  };
}

/** The weights a task's ops hold (from the layers' sizes, before any shard arrives). */
export function taskWeights(network: Network, task: Task): number {
  return task.ops.reduce((sum, spec) => {
    const layer = network.layers[spec.layer]!;
    const { cut } = spec;
    const share =
      cut.kind === "whole" ? 1 : (cut.c1 - cut.c0) / (cut.kind === "output" ? layer.output.c : layer.input.c);
    return sum + layer.stats.weights * share;
  }, 0);
}

/**
 * Weights one session of a task holds at most, unless a single layer has more (see
 * compile): the size up to which a device's sessions still get the layout transform,
 * so grouping small layers never costs them that speed-up.
 */
const SESSION_WEIGHT_BYTES = DEVICE_RUNTIME_OPTIONS.layoutTransformMaxWeightBytes;

/** Sessions run one after another as one stage. */
function chain(stages: readonly CompiledStage[], input: CompiledStage["input"]): CompiledStage {
  if (stages.length === 1) return stages[0]!;
  return {
    input,
    outputs: stages.at(-1)!.outputs,
    async run(x) {
      let out = x;
      for (const s of stages) [out] = (await s.run(out)) as [Float32Array];
      return [out];
    },
    release: async () => void (await Promise.all(stages.map((s) => s.release()))),
  };
}

const sameCut = (a: Cut, b: Cut) =>
  a.kind === b.kind && (a.kind === "whole" || (b.kind !== "whole" && a.c0 === b.c0 && a.c1 === b.c1));

export class TaskExecutor {
  /** Insertion order is recency order: a hit is re-inserted at the end. */
  private readonly compiled = new Map<string, Compiled | Promise<Compiled>>();
  private readonly kept = new Map<string, { data: Float32Array; timer: NodeJS.Timeout }>();
  private residentBytes = 0;

  constructor(
    readonly network: Network,
    private readonly options: ExecutorOptions,
  ) {}

  /** Weight bytes held by compiled stages now. */
  get weightBytes(): number {
    return this.residentBytes;
  }

  /**
   * Prepares tasks largest first: building a session briefly needs a few times its
   * weights, so the biggest ones are built while the device holds least.
   */
  async prepareAll(tasks: readonly Task[]): Promise<void> {
    const bySize = [...tasks].sort((a, b) => taskWeights(this.network, b) - taskWeights(this.network, a));
    for (const task of bySize) await this.prepare(task);
  }

  /** Fetches the task's shards and compiles it, unless it already is. */
  async prepare(task: Task): Promise<CompiledStage> {
    const hit = this.compiled.get(task.id);
    if (hit) {
      this.compiled.delete(task.id);
      this.compiled.set(task.id, hit);
      return (await hit).stage;
    }
    const pending = this.compile(task);
    this.compiled.set(task.id, pending);
    try {
      const done = await pending;
      if (this.compiled.get(task.id) === pending) this.compiled.set(task.id, done);
      this.residentBytes += done.weightBytes;
      await this.evict(task.id);
      return done.stage;
    } catch (err) {
      this.compiled.delete(task.id);
      throw err;
    }
  }

  /**
   * A task's layers go into onnxruntime sessions of at most SESSION_WEIGHT_BYTES of
   * weights each (a larger layer gets a session of its own), chained at run time.
   * Building a session briefly holds its weights three or four times (shard,
   * serialised model, onnxruntime's copies), so big slices are built one layer at a
   * time, while a stack of small layers (an FTP tile) stays one session and pays no
   * hand-offs. Each shard is let go (and collected) once its last layer is built.
   */
  private async compile(task: Task): Promise<Compiled> {
    const stages: CompiledStage[] = [];
    let weightBytes = 0;
    let input = task.input;
    let pending: ComputeOp[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pending.length === 0) return;
      const stage = await this.options.runtime.compile({ input, ops: pending });
      pending = [];
      pendingBytes = 0;
      collectGarbage();
      stages.push(stage);
      input = stage.outputs[0]!;
    };
    const shards = new Map<string, readonly ShardEntry[]>();
    const usesLeft = new Map<string, number>();
    for (const spec of task.ops) if (spec.shard) usesLeft.set(spec.shard, (usesLeft.get(spec.shard) ?? 0) + 1);
    try {
      for (const spec of task.ops) {
        const layer = this.network.layers[spec.layer]!;
        if (isIdentity(layer)) continue; // no op at inference
        let params: ShardEntry["params"] | undefined;
        if (spec.shard) {
          const entries = shards.get(spec.shard) ?? (await this.options.fetchShard(spec.shard));
          const left = usesLeft.get(spec.shard)! - 1;
          usesLeft.set(spec.shard, left);
          if (left > 0) shards.set(spec.shard, entries);
          else shards.delete(spec.shard);
          const entry = entries.find((e) => e.layer === spec.layer && sameCut(e.cut, spec.cut));
          if (!entry)
            throw new ShapeError(
              `task ${task.id}: shard ${spec.shard.slice(0, 12)}… has no weights for layer ${spec.layer} ${JSON.stringify(spec.cut)}`,
            );
          params = entry.params;
          const bytes = FLOAT32_BYTES * (params.weights.length + (params.bias?.length ?? 0));
          if (pendingBytes + bytes > SESSION_WEIGHT_BYTES) await flush();
          pendingBytes += bytes;
          weightBytes += bytes;
        }
        pending.push(cutOp(layer, spec.cut, params, spec.pads));
      }
      await flush();
    } catch (err) {
      await Promise.all(stages.map((s) => s.release()));
      throw err;
    }
    const stage = chain(stages, task.input);
    const out = stage.outputs[0]!;
    if (shapeSize(out) !== shapeSize(task.output)) {
      await stage.release();
      throw new ShapeError(
        `task ${task.id}: its ops produce ${shapeText(out)}, the plan expects ${shapeText(task.output)}`,
      );
    }
    return { stage, weightBytes };
  }

  /** Drops least recently used stages until the budget holds (never the one just used). */
  private async evict(keep: string): Promise<void> {
    for (const [id, entry] of this.compiled) {
      if (this.residentBytes <= this.options.memoryBudgetBytes) return;
      if (id === keep || entry instanceof Promise) continue;
      this.compiled.delete(id);
      this.residentBytes -= entry.weightBytes;
      await entry.stage.release();
    }
  }

  /**
   * For a task that reuses a kept slice: a fresh input and the byte ranges of it the
   * received channels fill (those before and after the slice's [c0, c1)), so that the
   * message can be reassembled straight into them (chunking.ts Placement) and run with
   * `placed`. Undefined for any other task, which runs on the received tensor itself.
   */
  placeInput(task: Task): { input: Float32Array; pieces: Uint8Array[] } | undefined {
    const held = task.held;
    if (!held) return undefined;
    const input = new Float32Array(shapeSize(task.input));
    const hw = task.input.h * task.input.w;
    const bytes = new Uint8Array(input.buffer);
    return {
      input,
      pieces: [bytes.subarray(0, FLOAT32_BYTES * held.c0 * hw), bytes.subarray(FLOAT32_BYTES * held.c1 * hw)],
    };
  }

  /**
   * Runs a task on what arrived for it: `received` has the task's `receives` shape, or,
   * `placed`, it is the input from placeInput with the received channels filled in.
   */
  async run(task: Task, jobId: string, received: Float32Array, placed = false): Promise<TaskRun> {
    const expected = placed ? task.input : task.receives;
    if (received.length !== shapeSize(expected)) {
      throw new ShapeError(
        `task ${task.id} of job ${jobId}: expected ${shapeText(expected)} = ${shapeSize(expected)} floats, got ${received.length}`,
      );
    }
    const stage = await this.prepare(task);
    const input = !task.held
      ? received
      : placed
        ? this.putKeptBack(task, jobId, received)
        : this.withKept(task, jobId, received);
    // The chunks this input arrived in, earlier inputs and outputs already sent are
    // garbage by now: collect them before the run adds its own working memory.
    collectIfGrown();
    const started = performance.now();
    const [output] = await stage.run(input);
    const computeMs = performance.now() - started;
    if (task.keep) this.keep(`${jobId}/${task.id}`, output!);
    return { output: output!, computeMs };
  }

  /** Reuse: the received channels with this device's kept slice put back at [c0, c1). */
  private withKept(task: Task, jobId: string, received: Float32Array): Float32Array {
    const { input, pieces } = this.placeInput(task)!;
    const bytes = new Uint8Array(received.buffer, received.byteOffset, received.byteLength);
    let at = 0;
    for (const piece of pieces) {
      piece.set(bytes.subarray(at, at + piece.byteLength));
      at += piece.byteLength;
    }
    return this.putKeptBack(task, jobId, input);
  }

  /** Reuse: copies this device's kept slice into channels [c0, c1) of `input`, which holds the received ones around them. */
  private putKeptBack(task: Task, jobId: string, input: Float32Array): Float32Array {
    const held = task.held!;
    const key = `${jobId}/${held.task}`;
    const kept = this.kept.get(key);
    if (!kept)
      throw new ShapeError(
        `task ${task.id} of job ${jobId}: the slice kept from task ${held.task} is gone (restart or expiry)`,
      );
    clearTimeout(kept.timer);
    this.kept.delete(key);
    const hw = task.input.h * task.input.w;
    if (kept.data.length !== (held.c1 - held.c0) * hw)
      throw new ShapeError(
        `task ${task.id}: kept slice has ${kept.data.length} floats, expected ${(held.c1 - held.c0) * hw}`,
      );
    input.set(kept.data, held.c0 * hw);
    return input;
  }

  private keep(key: string, data: Float32Array): void {
    const timer = setTimeout(() => this.kept.delete(key), this.options.keptTtlMs);
    timer.unref();
    this.kept.set(key, { data, timer });
  }

  /** Forget what a job kept (it ended or failed). */
  dropJob(jobId: string): void {
    for (const [key, entry] of this.kept) {
      if (key.startsWith(`${jobId}/`)) {
        clearTimeout(entry.timer);
        this.kept.delete(key);
      }
    }
  }

  async release(): Promise<void> {
    for (const entry of this.kept.values()) clearTimeout(entry.timer);
    this.kept.clear();
    const all = [...this.compiled.values()];
    this.compiled.clear();
    this.residentBytes = 0;
    // A stage still compiling is released once it is done; one that failed has nothing to release.
    await Promise.all(
      all.map((e) =>
        Promise.resolve(e)
          .then((c) => c.stage.release())
          .catch(() => undefined),
      ),
    );
  }
}

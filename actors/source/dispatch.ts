/**
 * Tasks over MQTT, as the source sees them: publish a task's input on
 * `job/<id>/layer/<l>/part/<p>/in` (or, for an input every part of its stage takes
 * whole and for the request's image to the tile devices, once on `job/<id>/layer/<l>/in`),
 * and resolve when its output arrives on `job/<id>/layer/<l>/part/<p>/out`.
 * The source's own tasks run on its own executor. A job can be failed as a whole
 * (deadline, a device that left, a worker's error): every waiter rejects at once.
 */
import { WireError } from "../../core/errors.js";
import { shapeText } from "../../dnn/layers.js";
import type { Bus } from "../../broker/bus.js";
import type { Dtype } from "../../core/dtypes.js";
import { decodeFrame, framePartsOrFloat32 } from "../../broker/frame.js";
import { JOB_TENSOR_QOS, type Topics } from "../../broker/topics.js";
import type { TaskExecutor } from "../runtime/executor.js";
import type { Dispatcher, TaskOutcome } from "../runtime/job.js";
import type { Task } from "../runtime/schedule.js";
import { isShape } from "../runtime/tensors.js";

interface Arrived {
  data: Float32Array;
  computeMs: number;
  bytes: number;
  dtype: string;
}

/** What a task's input cost on the wire: its bytes and how they travelled (a dtype, or "image"). */
interface Sent {
  readonly bytes: number;
  readonly dtype: string;
}

interface Waiter {
  readonly task: Task;
  resolve(frame: Arrived): void;
  reject(err: Error): void;
}

export class MqttDispatcher implements Dispatcher {
  private readonly waiters = new Map<string, Waiter>();
  /**
   * A layer's one input message per job (layerIn): a tensor every part of the stage takes
   * whole, or the request's image to the tile devices. Encoded and published once, not
   * once per device; every task of the stage waits on the same publish.
   */
  private readonly layerInputs = new Map<string, Promise<Sent>>();
  private readonly failed = new Map<string, Error>();

  constructor(
    private readonly bus: Bus,
    private readonly topics: Topics,
    private readonly selfId: string,
    private readonly executor: () => TaskExecutor,
  ) {}

  async run(task: Task, jobId: string, payload: Float32Array, image?: Uint8Array): Promise<TaskOutcome> {
    const failure = this.failed.get(jobId);
    if (failure) throw failure;
    if (task.workerId === this.selfId) {
      const { output, computeMs } = await this.executor().run(task, jobId, payload);
      return { output, computeMs, bytesSent: 0, bytesReceived: 0 };
    }
    const key = `${jobId}/${task.layer}/${task.part}`;
    const arrived = new Promise<Arrived>((resolve, reject) => this.waiters.set(key, { task, resolve, reject }));
    // The job can fail while its input is still being published (a device leaves mid-send):
    // mark the rejection handled now; the await below still throws it.
    arrived.catch(() => undefined);
    // The request's image as it came (a few hundred kB) instead of the tile's float32 pixels: the device cuts its own.
    const viaImage = task.wire.image && image !== undefined;
    const sharedInput = task.send.kind === "all" || viaImage;
    const sent = sharedInput
      ? await this.layerInput(task, jobId, payload, viaImage ? image : undefined)
      : await this.publish(this.topics.partIn(jobId, task.layer, task.part), this.frame(task, jobId, payload));
    const out = await arrived;
    return {
      output: out.data,
      computeMs: out.computeMs,
      bytesReceived: sent.bytes,
      bytesSent: out.bytes,
      wire: { input: sent.dtype, output: out.dtype },
      ...(sharedInput ? { sharedInput } : {}),
    };
  }

  /** The layer's input for every task of its stage, published once per job. */
  private layerInput(task: Task, jobId: string, payload: Float32Array, image: Uint8Array | undefined): Promise<Sent> {
    const key = `${jobId}/${task.layer}`;
    let sent = this.layerInputs.get(key);
    if (!sent) {
      const message = image ? { parts: [image], dtype: "image" } : this.frame(task, jobId, payload, 0);
      sent = this.publish(this.topics.layerIn(jobId, task.layer), message);
      this.layerInputs.set(key, sent);
    }
    return sent;
  }

  private async publish(topic: string, m: { parts: Uint8Array[]; dtype: string }): Promise<Sent> {
    await this.bus.publish(topic, m.parts, { qos: JOB_TENSOR_QOS });
    return { bytes: m.parts.reduce((n, p) => n + p.byteLength, 0), dtype: m.dtype };
  }

  /** A task's input frame, in the dtype its wire asks for (float32 for values a half cannot hold). */
  private frame(task: Task, jobId: string, payload: Float32Array, part = task.part): { parts: Buffer[]; dtype: Dtype } {
    const r = task.receives;
    return framePartsOrFloat32(
      { jobId, layer: task.layer, part, shape: [r.c, r.h, r.w], dtype: task.wire.input },
      payload,
    );
  }

  /** An output frame arrived (from the `…/out` subscription). */
  deliver(topic: string, payload: Buffer): void {
    const frame = decodeFrame(payload, topic);
    // The topic says whose output this is; a header that disagrees must not stand in for it.
    const at = this.topics.parse(topic);
    if (at?.kind !== "partOut") throw new WireError(topic, "not a job/<jobId>/layer/<l>/part/<p>/out topic");
    if (frame.jobId !== at.jobId || frame.layer !== at.layer || frame.part !== at.part) {
      throw new WireError(
        topic,
        `frame is for job ${frame.jobId} layer ${frame.layer} part ${frame.part}, the topic for job ${at.jobId} layer ${at.layer} part ${at.part}`,
      );
    }
    const key = `${frame.jobId}/${frame.layer}/${frame.part}`;
    const waiter = this.waiters.get(key);
    if (!waiter) return; // a job that already ended, or a duplicate
    const want = waiter.task.output;
    if (!isShape(frame.shape, want)) {
      throw new WireError(topic, `output [${frame.shape.join(", ")}] is not the task's ${shapeText(want)}`);
    }
    this.waiters.delete(key);
    waiter.resolve({
      data: frame.data,
      computeMs: frame.computeMs ?? 0,
      bytes: payload.byteLength,
      dtype: frame.dtype,
    });
  }

  /** Fails every task of a job that is still waiting, and any it would start later. */
  fail(jobId: string, err: Error): void {
    this.failed.set(jobId, err);
    this.forgetLayerInputs(jobId);
    for (const [key, waiter] of this.waiters) {
      if (key.startsWith(`${jobId}/`)) {
        this.waiters.delete(key);
        waiter.reject(err);
      }
    }
  }

  /** Which workers a job is still waiting for. */
  waitingOn(jobId: string): string[] {
    return [...this.waiters]
      .filter(([k]) => k.startsWith(`${jobId}/`))
      .map(([, w]) => `${w.task.workerId} (layer ${w.task.layer} part ${w.task.part})`);
  }

  end(jobId: string): void {
    this.failed.delete(jobId);
    this.forgetLayerInputs(jobId);
    for (const key of this.waiters.keys()) if (key.startsWith(`${jobId}/`)) this.waiters.delete(key);
  }

  private forgetLayerInputs(jobId: string): void {
    for (const key of this.layerInputs.keys()) if (key.startsWith(`${jobId}/`)) this.layerInputs.delete(key);
  }
}

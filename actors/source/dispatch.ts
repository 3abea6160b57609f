/**
 * Tasks over MQTT, as the source sees them: publish a task's input on
 * `job/<id>/layer/<l>/part/<p>/in`, and resolve when its output arrives on `…/out`.
 * The source's own tasks run on its own executor. A job can be failed as a whole
 * (deadline, a device that left, a worker's error): every waiter rejects at once.
 */
import { WireError } from "../../core/errors.js";
import { shapeText } from "../../dnn/layers.js";
import type { Bus } from "../../broker/bus.js";
import type { Dtype } from "../../core/dtypes.js";
import { decodeFrame, encodeFrameHeader, type FrameMeta, framePartsOrFloat32 } from "../../broker/frame.js";
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

interface Waiter {
  readonly task: Task;
  resolve(frame: Arrived): void;
  reject(err: Error): void;
}

export class MqttDispatcher implements Dispatcher {
  private readonly waiters = new Map<string, Waiter>();
  /**
   * A stage's tasks that take the same whole tensor (LOP and FUSE without a kept slice)
   * share its encoding: encoded once per dtype, not once per device.
   */
  private readonly encoded = new WeakMap<Float32Array, Map<Dtype, { data: Buffer; dtype: Dtype }>>();
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
    const r = task.receives;
    // The request's image as it came (a few hundred kB) instead of the tile's float32 pixels: the device cuts its own.
    const { parts, dtype } =
      task.wire.image && image !== undefined
        ? { parts: [image], dtype: "image" }
        : this.frame(
            { jobId, layer: task.layer, part: task.part, shape: [r.c, r.h, r.w], dtype: task.wire.input },
            payload,
          );
    await this.bus.publish(this.topics.partIn(jobId, task.layer, task.part), parts, { qos: JOB_TENSOR_QOS });
    const out = await arrived;
    return {
      output: out.data,
      computeMs: out.computeMs,
      bytesReceived: parts.reduce((n, p) => n + p.byteLength, 0),
      bytesSent: out.bytes,
      wire: { input: dtype, output: out.dtype },
    };
  }

  /** A task's input frame: its own header, and the payload's encoding, made once for every task that shares it. */
  private frame(meta: FrameMeta, payload: Float32Array): { parts: Buffer[]; dtype: Dtype } {
    const asked = meta.dtype ?? "float32";
    const known = this.encoded.get(payload)?.get(asked);
    if (known) return { parts: [encodeFrameHeader({ ...meta, dtype: known.dtype }), known.data], dtype: known.dtype };
    const { parts, dtype } = framePartsOrFloat32(meta, payload);
    if (asked !== "float32") {
      const byDtype = this.encoded.get(payload) ?? new Map();
      byDtype.set(asked, { data: parts[1], dtype });
      this.encoded.set(payload, byDtype);
    }
    return { parts, dtype };
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
    for (const key of this.waiters.keys()) if (key.startsWith(`${jobId}/`)) this.waiters.delete(key);
  }
}

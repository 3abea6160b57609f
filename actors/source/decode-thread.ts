/**
 * Request images decoded off the main thread. In `edgefuse up` the source shares its
 * process with the embedded broker, and decoding is long where images are large: a
 * 6000 × 6000 JPEG (within the decoding limits) takes ~2.8 s here, during which a
 * decoder on the main thread would stop the broker serving anyone.
 *
 * One thread, started at the first image and kept (images come one after another, and
 * a thread's start-up would cost more than a small image's decoding), unref'd so it never
 * keeps a process alive, and ended with the source. Jobs are answered in order; a thread
 * that dies fails the images it held, with an error each, and the next image starts a
 * new one.
 */
import { Worker } from "node:worker_threads";
import { z } from "zod";
import { EdgefuseError, InputError } from "../../core/errors.js";
import { threadScript } from "../../core/thread-script.js";
import type { FloatImage } from "../../dnn/image/image.js";
import type { Shape } from "../../dnn/layers.js";

export interface DecodeJob {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly where: string;
  readonly input: Shape;
}

const floats = z.custom<Float32Array>((v) => v instanceof Float32Array, "expected a Float32Array");
const dimension = z.number().int().positive();
/** What the thread answers: the image and the network's input made from it, or what it threw. */
export const decodeReplySchema = z.discriminatedUnion("kind", [
  z.object({
    id: z.number().int(),
    kind: z.literal("image"),
    image: z.object({ c: dimension, h: dimension, w: dimension, data: floats }),
    tensor: floats,
  }),
  z.object({
    id: z.number().int(),
    kind: z.literal("error"),
    code: z.string(),
    message: z.string(),
    problem: z.string().optional(),
  }),
]);
export type DecodeReply = z.infer<typeof decodeReplySchema>;

interface Waiting {
  readonly where: string;
  resolve(decoded: { image: FloatImage; tensor: Float32Array }): void;
  reject(err: Error): void;
}

export class DecodeThread {
  private thread: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();

  /** The decoded image and the network's input made from it, as imageInput makes them; `where` names the bytes in an error. */
  decode(bytes: Uint8Array, where: string, input: Shape): Promise<{ image: FloatImage; tensor: Float32Array }> {
    const thread = this.started();
    const id = this.nextId++;
    // A copy of its own to hand over: the request's bytes may sit in a pooled buffer, and the source keeps them.
    const own = new Uint8Array(bytes);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { where, resolve, reject });
      thread.postMessage({ id, bytes: own, where, input } satisfies DecodeJob, [own.buffer]);
    });
  }

  /** Ends the thread; images still being decoded fail. */
  async close(): Promise<void> {
    const thread = this.thread;
    this.thread = undefined;
    this.failAll("the source is stopping");
    await thread?.terminate();
  }

  private started(): Worker {
    if (this.thread) return this.thread;
    const thread = new Worker(
      threadScript(import.meta.url, "actors/source/decode-thread-entry.js", "input", "the decoding thread"),
    );
    thread.unref();
    thread.on("message", (message: unknown) => this.answered(message));
    const lost = (why: string) => {
      if (this.thread !== thread) return;
      this.thread = undefined;
      this.failAll(why);
    };
    thread.on("error", (err) => lost(`the decoding thread failed: ${err.message}`));
    thread.on("exit", (code) => lost(`the decoding thread exited (code ${code})`));
    this.thread = thread;
    return thread;
  }

  private answered(message: unknown): void {
    const reply = decodeReplySchema.safeParse(message);
    if (!reply.success) {
      this.failAll("the decoding thread answered something that is not a reply");
      return;
    }
    const r = reply.data;
    const job = this.waiting.get(r.id);
    if (!job) return;
    this.waiting.delete(r.id);
    if (r.kind === "image") job.resolve({ image: r.image, tensor: r.tensor });
    else
      job.reject(r.problem !== undefined ? new InputError(job.where, r.problem) : new EdgefuseError(r.code, r.message));
  }

  private failAll(why: string): void {
    for (const [id, job] of this.waiting) {
      this.waiting.delete(id);
      job.reject(new InputError(job.where, why));
    }
  }
}

/**
 * The source's decoding thread (decode-thread.ts starts it): decodes and letterboxes each
 * image it is sent, as the source itself would (runtime/image-input.ts), and answers the
 * float buffers by transfer. What it throws is answered as a message.
 */
import { parentPort } from "node:worker_threads";
import { EdgefuseError, errorMessage, InputError } from "../../core/errors.js";
import { imageInput } from "../runtime/image-input.js";
import type { DecodeJob, DecodeReply } from "./decode-thread.js";

function answer(job: DecodeJob): { reply: DecodeReply; transfer: ArrayBuffer[] } {
  try {
    const { image, tensor } = imageInput(job.bytes, job.where, job.input);
    const transfer = [...new Set([image.data.buffer, tensor.buffer])] as ArrayBuffer[];
    return { reply: { id: job.id, kind: "image", image, tensor }, transfer };
  } catch (err) {
    const reply: DecodeReply = {
      id: job.id,
      kind: "error",
      code: err instanceof EdgefuseError ? err.code : "input",
      message: errorMessage(err),
      ...(err instanceof InputError ? { problem: err.problem } : {}),
    };
    return { reply, transfer: [] };
  }
}

const port = parentPort;
if (!port)
  throw new EdgefuseError("input", "decode-thread-entry.js runs as a worker thread (decode-thread.ts starts it)");
port.on("message", (job: DecodeJob) => {
  const { reply, transfer } = answer(job);
  port.postMessage(reply, transfer);
});

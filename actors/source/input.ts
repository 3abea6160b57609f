/** A request on `infer/<id>`: raw JPEG/PNG bytes (what `mosquitto_pub -f dog.jpg` sends) or a tensor frame. */
import { InputError } from "../../core/errors.js";
import { decodeFrame, isFrame } from "../../broker/frame.js";
import type { FloatImage } from "../../dnn/image/image.js";
import { shapeText } from "../../dnn/layers.js";
import type { Network } from "../../dnn/network.js";
import { imageInput } from "../runtime/image-input.js";
import { isShape } from "../runtime/tensors.js";

/** Decodes an image and makes the network's input from it (imageInput, or the same off the main thread: decode-thread.ts). */
export type DecodeImage = (
  bytes: Uint8Array,
  where: string,
  input: Network["input"],
) => Promise<{ image: FloatImage; tensor: Float32Array }>;

const onThisThread: DecodeImage = async (bytes, where, input) => imageInput(bytes, where, input);

export interface RequestInput {
  readonly tensor: Float32Array;
  /** The original image, when the request was one (for boxes in its pixels). */
  readonly image?: FloatImage;
  /** Its bytes as they came: what FTP tile devices decode themselves when the plan's wire says so. */
  readonly encoded?: Uint8Array;
}

export async function readRequest(
  payload: Buffer,
  topic: string,
  network: Network,
  decode: DecodeImage = onThisThread,
): Promise<RequestInput> {
  if (isFrame(payload)) {
    const frame = decodeFrame(payload, topic);
    if (!isShape(frame.shape, network.input)) {
      throw new InputError(
        topic,
        `tensor [${frame.shape.join(", ")}] is not the network's input ${shapeText(network.input)}`,
      );
    }
    return { tensor: frame.data };
  }
  return { ...(await decode(payload, topic, network.input)), encoded: payload };
}

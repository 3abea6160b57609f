/** A request on `infer/<id>`: raw JPEG/PNG bytes (what `mosquitto_pub -f dog.jpg` sends) or a tensor frame. */
import { InputError } from "../../core/errors.js";
import { FRAME_MAGIC, decodeFrame } from "../../broker/frame.js";
import { decodeImage } from "../../dnn/image/decode.js";
import type { FloatImage } from "../../dnn/image/image.js";
import { networkInput } from "../../dnn/image/letterbox.js";
import { shapeText } from "../../dnn/layers.js";
import type { Network } from "../../dnn/network.js";
import { isShape } from "../runtime/tensors.js";

export interface RequestInput {
  readonly tensor: Float32Array;
  /** The original image, when the request was one (for boxes in its pixels). */
  readonly image?: FloatImage;
}

export function readRequest(payload: Buffer, topic: string, network: Network): RequestInput {
  if (payload.byteLength >= 4 && payload.toString("latin1", 0, 4) === FRAME_MAGIC) {
    const frame = decodeFrame(payload, topic);
    if (!isShape(frame.shape, network.input)) {
      throw new InputError(
        topic,
        `tensor [${frame.shape.join(", ")}] is not the network's input ${shapeText(network.input)}`,
      );
    }
    return { tensor: frame.data };
  }
  const image = decodeImage(payload, topic);
  return { tensor: networkInput(image, network.input), image };
}

/**
 * The network's input from an encoded image, one way for every device: the source
 * letterboxes a request's image, and an FTP tile device that gets the image itself
 * (the plan's wire says so) does exactly the same and cuts its region, so its tile is
 * the source's to the bit.
 */
import { decodeImage } from "../../dnn/image/decode.js";
import type { FloatImage } from "../../dnn/image/image.js";
import { networkInput } from "../../dnn/image/letterbox.js";
import type { Shape } from "../../dnn/layers.js";
import type { Rect } from "./schedule.js";
import { crop } from "./tensors.js";

/** The decoded image and the network's input made from it. `where` names the bytes in a decoding error. */
export function imageInput(
  bytes: Uint8Array,
  where: string,
  input: Shape,
): { image: FloatImage; tensor: Float32Array } {
  const image = decodeImage(bytes, where);
  return { image, tensor: networkInput(image, input) };
}

/** FTP tiles' input regions, cut from the network's input made once from the encoded image. */
export function tilesFromImage(
  bytes: Uint8Array,
  where: string,
  input: Shape,
  regions: readonly Rect[],
): Float32Array[] {
  const { tensor } = imageInput(bytes, where, input);
  return regions.map((r) => crop(tensor, input, r));
}

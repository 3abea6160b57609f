/** Raw float32 little-endian tensors on disk (darknet memory order C×H×W), as --input and --dump-layers use. */
import { readFileSync, writeFileSync } from "node:fs";
import { InputError } from "../core/errors.js";
import { type Shape, shapeSize, shapeText } from "./layers.js";
import { FLOAT32_BYTES } from "../core/dtypes.js";

export function readTensorFile(path: string, shape: Shape): Float32Array {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new InputError(path, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const want = FLOAT32_BYTES * shapeSize(shape);
  if (buf.byteLength !== want) {
    throw new InputError(
      path,
      `expected a float32 ${shapeText(shape)} tensor = ${want} bytes, got ${buf.byteLength} bytes`,
    );
  }
  // Copy into an aligned buffer; the file bytes are little-endian like every target platform.
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

export function writeTensorFile(path: string, data: Float32Array): void {
  writeFileSync(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

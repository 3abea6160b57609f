import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decodeImage } from "../../dnn/image/decode.js";
import { imagePath } from "../../test/fixtures.js";
import { requestOfJpeg, withRequestComment } from "./jpeg-comment.js";

describe("the request an annotated JPEG names", () => {
  const dog = readFileSync(imagePath("dog.jpg"));

  it("is read back from the comment, and the image decodes to the same pixels", () => {
    const named = withRequestComment(dog, "cam-1:frame.0042");
    expect(named.byteLength).toBe(dog.byteLength + 4 + "edgefuse-request:cam-1:frame.0042".length);
    expect(requestOfJpeg(named)).toBe("cam-1:frame.0042");
    const [a, b] = [decodeImage(dog, "dog"), decodeImage(Buffer.from(named), "named")];
    expect([b.w, b.h]).toEqual([a.w, a.h]);
    expect(Buffer.compare(Buffer.from(a.data.buffer), Buffer.from(b.data.buffer))).toBe(0);
  });

  it("is null for a JPEG without one, and for bytes that are no JPEG", () => {
    expect(requestOfJpeg(dog)).toBeNull();
    expect(requestOfJpeg(new Uint8Array([1, 2, 3]))).toBeNull();
    expect(() => withRequestComment(new Uint8Array([1, 2, 3]), "x")).toThrow(/not a JPEG/);
  });
});

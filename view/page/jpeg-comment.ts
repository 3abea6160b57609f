/**
 * Which request an annotated JPEG shows, carried in the JPEG itself: a comment segment
 * (COM, 0xFFFE) right after its start-of-image marker. The source writes it on every
 * image it publishes on `annotated` (actors/source/last-result.ts) and the live view
 * reads it, so each request in the view gets its own picture however many run at once.
 * Decoders skip comments (Home Assistant shows the image as before). Plain bytes, no
 * Node or DOM API: the same module runs in the source and in the page.
 */
const SOI = [0xff, 0xd8];
const COM = 0xfe;
const SOS = 0xda;
const PREFIX = "edgefuse-request:";

/** `jpeg` with a comment naming `requestId` (ASCII, as topics.ts allows) after its SOI. */
export function withRequestComment(jpeg: Uint8Array, requestId: string): Uint8Array {
  if (jpeg[0] !== SOI[0] || jpeg[1] !== SOI[1]) throw new Error("not a JPEG: no start-of-image marker");
  const text = new TextEncoder().encode(PREFIX + requestId);
  const length = text.byteLength + 2; // the length field counts itself
  const out = new Uint8Array(jpeg.byteLength + 2 + length);
  out.set(SOI, 0);
  out.set([0xff, COM, length >> 8, length & 0xff], 2);
  out.set(text, 6);
  out.set(jpeg.subarray(2), 6 + text.byteLength);
  return out;
}

/** The request an annotated JPEG names in its comment, or null (none, or not ours). */
export function requestOfJpeg(jpeg: Uint8Array): string | null {
  if (jpeg[0] !== SOI[0] || jpeg[1] !== SOI[1]) return null;
  let at = 2;
  // Segments up to the first scan: marker, then a big-endian length that counts itself.
  while (at + 4 <= jpeg.byteLength && jpeg[at] === 0xff && jpeg[at + 1] !== SOS) {
    const length = (jpeg[at + 2]! << 8) | jpeg[at + 3]!;
    if (length < 2) return null;
    if (jpeg[at + 1] === COM) {
      const text = new TextDecoder().decode(jpeg.subarray(at + 4, Math.min(at + 2 + length, jpeg.byteLength)));
      if (text.startsWith(PREFIX)) return text.slice(PREFIX.length);
    }
    at += 2 + length;
  }
  return null;
}

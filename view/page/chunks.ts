/**
 * The page's side of broker/chunking.ts: a message too big for one packet (a large plan,
 * an annotated image) arrives as chunks on `<topic>/c/<i>`, each with a 40-byte header
 * (magic "EFC1", messageId, chunkIndex, chunkCount, chunkBytes, totalBytes, crc32), and is
 * put back together here. The page shows what it reads and decides nothing by it, so it
 * leaves the CRC to the devices, which act on what they rebuild.
 */
const HEADER_BYTES = 40;
const MAGIC = [0x45, 0x46, 0x43, 0x31]; // "EFC1"

interface Pending {
  messageId: number;
  parts: (Uint8Array | undefined)[];
  missing: number;
  totalBytes: number;
}

export class PageReassembler {
  private readonly pending = new Map<string, Pending>();

  /** Adds chunk `bytes` of the message for `base`; the whole message once its last chunk is in, else null. */
  add(base: string, bytes: Uint8Array): Uint8Array | null {
    if (bytes.byteLength < HEADER_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const messageId = view.getUint32(8, true);
    const chunkIndex = view.getUint32(12, true);
    const chunkCount = view.getUint32(16, true);
    const totalBytes = Number(view.getBigUint64(24, true));
    if (chunkIndex >= chunkCount || chunkCount > 100_000) return null;
    let p = this.pending.get(base);
    if (!p || p.messageId !== messageId) {
      p = { messageId, parts: new Array(chunkCount), missing: chunkCount, totalBytes };
      this.pending.set(base, p);
    }
    if (p.parts[chunkIndex] === undefined) p.missing--;
    p.parts[chunkIndex] = bytes.subarray(HEADER_BYTES);
    if (p.missing > 0) return null;
    this.pending.delete(base);
    const whole = new Uint8Array(p.totalBytes);
    let offset = 0;
    for (const part of p.parts) {
      whole.set(part!, offset);
      offset += part!.byteLength;
    }
    return offset === p.totalBytes ? whole : null;
  }
}

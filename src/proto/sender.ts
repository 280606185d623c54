/**
 * The write side of the sans-I/O core: frames out as buffers, never touching the caller's bytes.
 * Headers are small pool slices; an unmasked payload is passed on as it is (no copy), a masked one
 * is copied once into the frame as it is masked.
 */
import { randomFillSync } from 'node:crypto';
import { frameHeaderSize, writeFrameHeader } from './frame.js';
import { maskInto } from './mask.js';

/** Random bytes for masking keys, drawn from the system's cryptographic source a block at a time. */
const keyPool = Buffer.allocUnsafe(8192);
let keyPoolPos = keyPool.length;

/** A fresh masking key, packed first byte highest (RFC 6455 §5.3: unpredictable, from a strong source). */
export function nextMaskKey(): number {
  if (keyPoolPos + 4 > keyPool.length) {
    randomFillSync(keyPool);
    keyPoolPos = 0;
  }
  const k = keyPool.readUInt32BE(keyPoolPos);
  keyPoolPos += 4;
  return k;
}

/**
 * Appends one frame to `out` and returns its size in bytes. With `mask` set, the payload is masked
 * with a fresh key (client role).
 */
export function pushFrame(
  out: Buffer[], opcode: number, payload: Buffer, fin: boolean, rsv1: boolean, mask: boolean,
): number {
  const len = payload.length;
  if (mask) {
    const key = nextMaskKey();
    const hsize = frameHeaderSize(len, true);
    const buf = Buffer.allocUnsafe(hsize + len);
    writeFrameHeader(buf, 0, opcode, fin, rsv1, len, key);
    maskInto(payload, buf, hsize, key);
    out.push(buf);
    return buf.length;
  }
  const hsize = frameHeaderSize(len, false);
  const header = Buffer.allocUnsafe(hsize);
  writeFrameHeader(header, 0, opcode, fin, rsv1, len);
  out.push(header);
  if (len > 0) out.push(payload);
  return hsize + len;
}

/**
 * The write side of the sans-I/O core: masking keys and masked frames. A masked payload is copied
 * once into its frame as it is masked; the caller's bytes are never touched.
 */
import { Buffer } from 'node:buffer';
import { randomFillSync } from 'node:crypto';
import { frameHeaderSize, writeFrameHeader } from './frame.js';
import { maskInto } from './mask.js';

/** Random bytes for masking keys, drawn from the system's cryptographic source a block at a time. */
const keyPool = Buffer.allocUnsafe(8192);
let keyPoolPos = keyPool.length;

/** A fresh masking key, packed first byte highest (RFC 6455 §5.3: unpredictable, from a strong source). */
function nextMaskKey(): number {
  if (keyPoolPos + 4 > keyPool.length) {
    randomFillSync(keyPool);
    keyPoolPos = 0;
  }
  const k = keyPool.readUInt32BE(keyPoolPos);
  keyPoolPos += 4;
  return k;
}

/**
 * A client's frame (RFC 6455 §5.3): header and payload masked with a fresh key, in one new buffer
 * (the caller's bytes are never touched). Unmasked frames need no building: their header is
 * written straight into the batch that carries them (stream/write-queue.ts).
 */
export function maskedFrame(opcode: number, payload: Buffer, fin: boolean, rsv1: boolean): Buffer {
  const len = payload.length;
  const key = nextMaskKey();
  const hsize = frameHeaderSize(len, true);
  const buf = Buffer.allocUnsafe(hsize + len);
  writeFrameHeader(buf, 0, opcode, fin, rsv1, len, key);
  maskInto(payload, buf, hsize, key);
  return buf;
}

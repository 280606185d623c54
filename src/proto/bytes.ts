/** Bytes given by the caller, as a Buffer over the same memory (no copy). */
import { Buffer } from 'node:buffer';
import { WebSocketError } from '../errors.js';

/**
 * The bytes of an ArrayBuffer or of a view (only its own range of a larger buffer), without a copy.
 * One whose ArrayBuffer was detached (transferred by structuredClone or postMessage) is
 * ERR_WS_INVALID_ARGUMENT, where V8 would throw a bare TypeError.
 */
export function viewBytes(data: ArrayBuffer | ArrayBufferView): Buffer {
  try {
    return data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  } catch {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'the bytes are over a detached ArrayBuffer');
  }
}

/** Close frame payloads (RFC 6455 §5.5.1, §7.4). */
import { isUtf8 } from 'node:buffer';
import { shown, WebSocketError, type ErrorCode } from '../errors.js';
import { viewBytes } from './bytes.js';

/** No status code was present (never sent on the wire). */
export const CLOSE_NO_STATUS = 1005;
/** The connection ended without a close frame (never sent on the wire). */
export const CLOSE_ABNORMAL = 1006;

/** Whether a code may appear in a close frame: 1000–1003, 1007–1014, 3000–4999. */
export function isValidCloseCode(code: number): boolean {
  if (typeof code !== 'number') return false; // (a Symbol or a bare object would throw in a comparison)
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
  );
}

export type ParsedClose = { code: number; reason: string } | { error: ErrorCode };

/** Reads a received close payload; an empty one means no status (1005). */
export function parseClosePayload(payload: Uint8Array, validateUtf8 = true): ParsedClose {
  if (payload.length === 0) return { code: CLOSE_NO_STATUS, reason: '' };
  if (payload.length === 1) return { error: 'ERR_WS_BAD_CLOSE_SIZE' };
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidCloseCode(code)) return { error: 'ERR_WS_BAD_CLOSE_CODE' };
  const reason = payload.subarray(2);
  if (validateUtf8 && !isUtf8(reason)) return { error: 'ERR_WS_BAD_CLOSE_PAYLOAD' };
  return { code, reason: Buffer.from(reason.buffer, reason.byteOffset, reason.length).toString('utf8') };
}

/**
 * The payload of a close frame we send. `code` undefined sends no status. The reason is UTF-8 of at
 * most 123 bytes; a view is copied by its own bytes only.
 */
export function encodeClosePayload(code?: number, reason?: string | ArrayBufferView): Buffer {
  if (code === undefined) {
    if (reason !== undefined && (typeof reason === 'string' ? reason.length : reason.byteLength) > 0) {
      throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'a close reason needs a close code');
    }
    return Buffer.alloc(0);
  }
  if (!Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', `invalid close code ${shown(code)}`);
  }
  const reasonBytes =
    reason === undefined
      ? Buffer.alloc(0)
      : typeof reason === 'string'
        ? Buffer.from(reason, 'utf8')
        : ArrayBuffer.isView(reason)
          ? viewBytes(reason)
          : null;
  if (reasonBytes === null) throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'a close reason is a string or bytes');
  if (reasonBytes.length > 123) throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'close reason over 123 bytes');
  if (!isUtf8(reasonBytes)) throw new WebSocketError('ERR_WS_INVALID_ARGUMENT', 'close reason is not UTF-8');
  const out = Buffer.allocUnsafe(2 + reasonBytes.length);
  out.writeUInt16BE(code, 0);
  reasonBytes.copy(out, 2);
  return out;
}

/**
 * `text` cut to fit a close frame's reason (at most 123 bytes of UTF-8), at a character boundary, so
 * an error message can always be sent as a reason whatever characters it holds.
 */
export function closeReasonOf(text: string): string {
  if (text.length <= 41 || Buffer.byteLength(text, 'utf8') <= 123) return text; // ≤ 3 bytes per UTF-16 unit
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes > 123) break;
    end += ch.length;
  }
  return text.slice(0, end);
}

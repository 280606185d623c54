/**
 * The one table from ws-stream's error codes to the `ws` package's: its `WS_ERR_*` code, its
 * message, and its Error class, so that code written for ws that matches on them keeps working.
 * The core's error stays reachable as `cause`.
 */
import type { ErrorCode, WebSocketError } from '../errors.js';
import { HUGE_LENGTH } from '../proto/frame.js';

interface WsErrorInfo {
  readonly code: string;
  /** ws's message; `Invalid WebSocket frame: ` is prefixed where ws prefixes it. */
  readonly message: string;
  readonly frame: boolean;
  readonly range: boolean;
}

const table: Partial<Record<ErrorCode, WsErrorInfo>> = {
  ERR_WS_BAD_OPCODE: { code: 'WS_ERR_INVALID_OPCODE', message: 'invalid opcode', frame: true, range: true },
  ERR_WS_BAD_DATA_FRAME: { code: 'WS_ERR_INVALID_OPCODE', message: 'invalid opcode', frame: true, range: true },
  ERR_WS_BAD_CONTINUATION: { code: 'WS_ERR_INVALID_OPCODE', message: 'invalid opcode 0', frame: true, range: true },
  ERR_WS_BAD_RESERVED_BITS: {
    code: 'WS_ERR_UNEXPECTED_RSV_1',
    message: 'RSV1 must be clear',
    frame: true,
    range: true,
  },
  ERR_WS_BAD_CONTROL_FRAGMENT: { code: 'WS_ERR_EXPECTED_FIN', message: 'FIN must be set', frame: true, range: true },
  ERR_WS_BAD_CONTROL_SIZE: {
    code: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
    message: 'invalid payload length',
    frame: true,
    range: true,
  },
  ERR_WS_BAD_CLOSE_SIZE: {
    code: 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
    message: 'invalid payload length 1',
    frame: true,
    range: true,
  },
  ERR_WS_BAD_UNMASKED_FRAME: { code: 'WS_ERR_EXPECTED_MASK', message: 'MASK must be set', frame: true, range: true },
  ERR_WS_BAD_MASKED_FRAME: { code: 'WS_ERR_UNEXPECTED_MASK', message: 'MASK must be clear', frame: true, range: true },
  ERR_WS_BAD_SIZE: {
    code: 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH',
    message: 'Unsupported WebSocket frame: payload length > 2^53 - 1',
    frame: false,
    range: true,
  },
  ERR_WS_BAD_FRAME_PAYLOAD: {
    code: 'WS_ERR_INVALID_UTF8',
    message: 'invalid UTF-8 sequence',
    frame: true,
    range: false,
  },
  ERR_WS_BAD_CLOSE_PAYLOAD: {
    code: 'WS_ERR_INVALID_UTF8',
    message: 'invalid UTF-8 sequence',
    frame: true,
    range: false,
  },
  ERR_WS_BAD_CLOSE_CODE: {
    code: 'WS_ERR_INVALID_CLOSE_CODE',
    message: 'invalid status code',
    frame: true,
    range: true,
  },
  ERR_WS_MESSAGE_TOO_BIG: {
    code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
    message: 'Max payload size exceeded',
    frame: false,
    range: true,
  },
  ERR_WS_TOO_MANY_FRAGMENTS: {
    code: 'WS_ERR_TOO_MANY_BUFFERED_PARTS',
    message: 'Too many message fragments',
    frame: false,
    range: true,
  },
};

/** The error ws's WebSocket emits for what failed the connection; null where ws emits none (a reset, a timeout). */
export function toWsError(err: WebSocketError): Error | null {
  const zlib = err.cause as (Error & { code?: string }) | undefined;
  if (err.code === 'ERR_WS_BAD_FRAME_PAYLOAD' && zlib instanceof Error && typeof zlib.code === 'string') {
    return wrap(new Error(zlib.message), zlib.code, err); // ws emits zlib's own error for a bad deflate stream
  }
  // A length from 2^53 up: the core's 1009, ws's error for the length (ws sends 1009 too).
  const huge = err.code === 'ERR_WS_MESSAGE_TOO_BIG' && err.message.endsWith(HUGE_LENGTH);
  const info = table[huge ? 'ERR_WS_BAD_SIZE' : err.code];
  // Not in the table: a reset, a timeout, ... (the core's ERR_WS_BUFFER_OVERFLOW never comes: the compat layer
  // leaves bufferPolicy at 'wait', as ws has no such limit).
  if (info === undefined) return null;
  let message = info.message;
  // The core's detail gives the numbers ws puts in its messages.
  let number = /(?:opcode|length|code) (\d+)$/.exec(err.message)?.[1];
  // ws names a control frame's length field (126: 16-bit, 127: 64-bit; the shortest form is enforced), not its length.
  if (err.code === 'ERR_WS_BAD_CONTROL_SIZE') number = number !== undefined && Number(number) < 65536 ? '126' : '127';
  if (number !== undefined && !/\d$/.test(message)) message = `${message} ${number}`;
  if (err.code === 'ERR_WS_BAD_RESERVED_BITS' && err.message.endsWith('RSV2 or RSV3')) {
    return wrap(
      new RangeError('Invalid WebSocket frame: RSV2 and RSV3 must be clear'),
      'WS_ERR_UNEXPECTED_RSV_2_3',
      err,
    );
  }
  const e = info.range ? new RangeError(info.frame ? `Invalid WebSocket frame: ${message}` : message) : new Error();
  if (!info.range) e.message = info.frame ? `Invalid WebSocket frame: ${message}` : message;
  return wrap(e, info.code, err);
}

function wrap(e: Error, code: string, cause: WebSocketError): Error {
  Object.defineProperty(e, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  Object.defineProperty(e, 'cause', { value: cause, enumerable: false, writable: true, configurable: true });
  return e;
}

const readyStateNames = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];

/** ws's error for an operation on a WebSocket that is not open. */
export function notOpenError(readyState: number): Error {
  return new Error(`WebSocket is not open: readyState ${readyState} (${readyStateNames[readyState]})`);
}

/** ws's error for the callbacks of sends still being compressed (and those queued behind them) when the socket went. */
export function compressingClosedError(): Error {
  return new Error('The socket was closed while data was being compressed');
}

/** ws's error for the callbacks of sends waiting behind a Blob being read when the socket went. */
export function blobClosedError(): Error {
  return new Error('The socket was closed while the blob was being read');
}

/** Node's error for a write the socket never took because it was destroyed (what ws's callback then gets). */
export function streamDestroyedError(): Error {
  const e = new Error('Cannot call write after a stream was destroyed') as Error & { code: string };
  e.code = 'ERR_STREAM_DESTROYED';
  return e;
}

/** ws's message for close()/terminate() while connecting. */
export const CLOSED_BEFORE_OPEN = 'WebSocket was closed before the connection was established';

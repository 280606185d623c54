/**
 * One error class with stable codes, after Beast's `websocket::error` enum and its conditions.
 * Codes are only ever added, never renamed. Each code carries the close code that the stream sends
 * when the error fails an open connection (RFC 6455 §7.4.1).
 */

/** Groups of codes, as Beast's `websocket::condition`. */
export type ErrorCondition = 'handshake_failed' | 'protocol_violation' | 'local_misuse' | 'connection';

interface CodeInfo {
  readonly condition: ErrorCondition;
  /** Close code sent to the peer when this error fails an open connection; 0 for none. */
  readonly closeCode: number;
  readonly message: string;
}

const codes = {
  // --- handshake_failed (server and client role) ---
  ERR_WS_BAD_REQUEST: { condition: 'handshake_failed', closeCode: 0, message: 'malformed HTTP request' },
  ERR_WS_HEADER_LIMIT: {
    condition: 'handshake_failed',
    closeCode: 0,
    message: 'HTTP head too large or too many header fields',
  },
  ERR_WS_BAD_HTTP_VERSION: {
    condition: 'handshake_failed',
    closeCode: 0,
    message: 'HTTP version must be 1.1 or a later 1.x',
  },
  ERR_WS_BAD_METHOD: { condition: 'handshake_failed', closeCode: 0, message: 'method must be GET' },
  ERR_WS_NO_HOST: { condition: 'handshake_failed', closeCode: 0, message: 'missing Host header' },
  ERR_WS_NO_CONNECTION: { condition: 'handshake_failed', closeCode: 0, message: 'missing Connection header' },
  ERR_WS_NO_CONNECTION_UPGRADE: {
    condition: 'handshake_failed',
    closeCode: 0,
    message: 'Connection header lacks the "upgrade" token',
  },
  ERR_WS_NO_UPGRADE: { condition: 'handshake_failed', closeCode: 0, message: 'missing Upgrade header' },
  ERR_WS_NO_UPGRADE_WEBSOCKET: {
    condition: 'handshake_failed',
    closeCode: 0,
    message: 'Upgrade header lacks the "websocket" token',
  },
  ERR_WS_NO_SEC_KEY: { condition: 'handshake_failed', closeCode: 0, message: 'missing Sec-WebSocket-Key header' },
  ERR_WS_BAD_SEC_KEY: {
    condition: 'handshake_failed',
    closeCode: 0,
    message: 'Sec-WebSocket-Key is not 16 bytes in base64',
  },
  ERR_WS_NO_SEC_VERSION: {
    condition: 'handshake_failed',
    closeCode: 0,
    message: 'missing Sec-WebSocket-Version header',
  },
  ERR_WS_BAD_SEC_VERSION: { condition: 'handshake_failed', closeCode: 0, message: 'Sec-WebSocket-Version must be 13' },
  ERR_WS_NO_SEC_ACCEPT: { condition: 'handshake_failed', closeCode: 0, message: 'missing Sec-WebSocket-Accept header' },
  ERR_WS_BAD_SEC_ACCEPT: { condition: 'handshake_failed', closeCode: 0, message: 'wrong Sec-WebSocket-Accept' },
  ERR_WS_UPGRADE_DECLINED: { condition: 'handshake_failed', closeCode: 0, message: 'the upgrade was declined' },
  ERR_WS_BAD_RESPONSE: { condition: 'handshake_failed', closeCode: 0, message: 'malformed HTTP response' },
  ERR_WS_BAD_SUBPROTOCOL: {
    condition: 'handshake_failed',
    closeCode: 0,
    message: 'the server chose a subprotocol that was not offered',
  },
  ERR_WS_BAD_EXTENSION: {
    condition: 'handshake_failed',
    closeCode: 0,
    message: 'the server chose an extension that was not offered',
  },
  // --- protocol_violation (an open connection is failed with the close code) ---
  ERR_WS_BAD_OPCODE: { condition: 'protocol_violation', closeCode: 1002, message: 'reserved opcode' },
  ERR_WS_BAD_DATA_FRAME: {
    condition: 'protocol_violation',
    closeCode: 1002,
    message: 'data frame inside a fragmented message',
  },
  ERR_WS_BAD_CONTINUATION: {
    condition: 'protocol_violation',
    closeCode: 1002,
    message: 'continuation frame without a message',
  },
  ERR_WS_BAD_RESERVED_BITS: {
    condition: 'protocol_violation',
    closeCode: 1002,
    message: 'reserved bits set without a negotiated extension',
  },
  ERR_WS_BAD_CONTROL_FRAGMENT: {
    condition: 'protocol_violation',
    closeCode: 1002,
    message: 'fragmented control frame',
  },
  ERR_WS_BAD_CONTROL_SIZE: {
    condition: 'protocol_violation',
    closeCode: 1002,
    message: 'control frame payload over 125 bytes',
  },
  ERR_WS_BAD_UNMASKED_FRAME: {
    condition: 'protocol_violation',
    closeCode: 1002,
    message: 'unmasked frame sent to a server',
  },
  ERR_WS_BAD_MASKED_FRAME: {
    condition: 'protocol_violation',
    closeCode: 1002,
    message: 'masked frame sent to a client',
  },
  ERR_WS_BAD_SIZE: {
    condition: 'protocol_violation',
    closeCode: 1002,
    message: 'payload length not in its shortest form or over 2^63',
  },
  ERR_WS_BAD_FRAME_PAYLOAD: {
    condition: 'protocol_violation',
    closeCode: 1007,
    message: 'invalid frame payload data',
  },
  ERR_WS_BAD_CLOSE_CODE: { condition: 'protocol_violation', closeCode: 1002, message: 'invalid close code' },
  ERR_WS_BAD_CLOSE_SIZE: { condition: 'protocol_violation', closeCode: 1002, message: 'close payload of 1 byte' },
  ERR_WS_BAD_CLOSE_PAYLOAD: {
    condition: 'protocol_violation',
    closeCode: 1007,
    message: 'close reason is not valid UTF-8',
  },
  ERR_WS_MESSAGE_TOO_BIG: {
    condition: 'protocol_violation',
    closeCode: 1009,
    message: 'message too big',
  },
  ERR_WS_TOO_MANY_FRAGMENTS: {
    condition: 'protocol_violation',
    closeCode: 1008,
    message: 'message in more fragments than maxFragments',
  },
  // --- local_misuse (thrown or completed at once; the connection is not touched) ---
  ERR_WS_OPERATION_IN_PROGRESS: {
    condition: 'local_misuse',
    closeCode: 0,
    message: 'another operation of this kind is in progress',
  },
  ERR_WS_INVALID_STATE: {
    condition: 'local_misuse',
    closeCode: 0,
    message: "operation not allowed in the stream's state",
  },
  ERR_WS_INVALID_ARGUMENT: { condition: 'local_misuse', closeCode: 0, message: 'invalid argument' },
  // --- connection (the stream's life) ---
  ERR_WS_CLOSED: { condition: 'connection', closeCode: 0, message: 'the WebSocket is closed' },
  ERR_WS_EOF: { condition: 'connection', closeCode: 0, message: 'the next layer ended without a close handshake' },
  ERR_WS_NEXT_LAYER: { condition: 'connection', closeCode: 0, message: 'the next layer failed' },
  ERR_WS_BUFFER_OVERFLOW: {
    condition: 'connection',
    closeCode: 1008,
    message: 'the peer does not read: write buffer over maxBufferedBytes',
  },
  ERR_WS_TIMEOUT: { condition: 'connection', closeCode: 0, message: 'timed out' },
  ERR_WS_ABORTED: { condition: 'connection', closeCode: 0, message: 'the operation was aborted' },
  // --- pub/sub (src/pubsub/) ---
  ERR_WS_BROKER_UNAVAILABLE: { condition: 'connection', closeCode: 0, message: 'the pub/sub broker is unavailable' },
  ERR_WS_BROKER_REFUSED: { condition: 'connection', closeCode: 0, message: 'the pub/sub broker refused' },
  ERR_WS_SLOW_SUBSCRIBER: { condition: 'connection', closeCode: 1008, message: 'subscriber backlog over its limit' },
  ERR_WS_TOO_MANY_TOPICS: {
    condition: 'local_misuse',
    closeCode: 0,
    message: 'too many topics subscribed on one connection',
  },
} as const satisfies Record<string, CodeInfo>;

/** Every stable error code. */
export type ErrorCode = keyof typeof codes;

/** The error of every ws-stream operation. */
export class WebSocketError extends Error {
  override name = 'WebSocketError';
  readonly code: ErrorCode;
  readonly condition: ErrorCondition;
  /** The close code the stream sent (or would send) for this error, 0 if none applies. */
  readonly closeCode: number;

  /**
   * `captureStack`: take a stack trace whatever the condition, for an error made inside the call
   * that it answers (a write after the close, say), where the trace points at the caller.
   */
  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown; captureStack?: boolean }) {
    // A code from outside the union (plain JavaScript, a cast) is the caller's misuse: say which code and
    // which are valid, rather than fail on `undefined.condition` below.
    if (typeof code !== 'string' || !Object.hasOwn(codes, code)) throw notAnErrorCode(code);
    const info: CodeInfo = codes[code];
    // What happens on a connection is reported from event callbacks, where a stack trace shows
    // only the event loop's internals and costs ~4 µs (about a tenth of a handshake's CPU): it is
    // captured for local misuse only, where it points at the caller. `cause` keeps the layer's error.
    const limit = Error.stackTraceLimit;
    if (info.condition !== 'local_misuse' && options?.captureStack !== true) Error.stackTraceLimit = 0;
    super(detail ? `${info.message}: ${detail}` : info.message, options);
    Error.stackTraceLimit = limit;
    this.code = code;
    this.condition = info.condition;
    this.closeCode = info.closeCode;
  }
}

/** Description, condition and close code of a code; the README's error table is made from this. */
export function describeError(code: ErrorCode): Readonly<CodeInfo> {
  if (typeof code !== 'string' || !Object.hasOwn(codes, code)) throw notAnErrorCode(code);
  return codes[code];
}

/** The misuse error for a value that is not one of the codes: it names the value and every valid code. */
function notAnErrorCode(code: unknown): WebSocketError {
  return new WebSocketError(
    'ERR_WS_INVALID_ARGUMENT',
    `not an error code: ${shown(code)} (the codes: ${Object.keys(codes).join(', ')})`,
  );
}

/** All codes, in declaration order. */
export const errorCodes = Object.keys(codes) as ErrorCode[];

export function isWebSocketError(err: unknown): err is WebSocketError {
  return err instanceof WebSocketError;
}

/**
 * A bad value as an error message shows it: its string form (quoted, for a string), cut at 100 characters, or its type
 * when it has none (a Symbol in a template, an object without a prototype, a throwing toString):
 * building the message of an ERR_WS_INVALID_ARGUMENT must never throw something else.
 */
export function shown(value: unknown): string {
  let text: string;
  try {
    // (a string quoted, so that a CR, LF or NUL in it shows)
    text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    try {
      text = Object.prototype.toString.call(value);
    } catch {
      text = `(${typeof value})`; // a Proxy whose traps throw
    }
  }
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

/**
 * The internal hook for pub/sub and the ws-compat layer (not exported from the package): a message
 * framed once and sent to many streams as the same bytes.
 */
import type { WebSocketError } from '../errors.js';
import type { WebSocketStream } from './websocket-stream.js';
import {
  queuePreparedFrame as queue,
  tryWritePreparedFrameNow as writeNow,
  whenWritten as afterWritten,
} from './websocket-stream.js';

export { deferQueueing, runDeferred, toBuffer } from './websocket-stream.js';

/**
 * Queues one whole, already-framed server-role message (`frame`: header and payload, unmasked; RSV1
 * set when the payload is compressed, which needs permessage-deflate negotiated on `ws`), or several
 * such frames one after the other in one Buffer (RSV1 is checked on the first only). It goes
 * out after every message written before it (also those still being compressed) and before later
 * ones, never between the fragments of another message; it counts in `bufferedAmount` and obeys
 * `bufferPolicy` as `write()` does. `frame` is neither changed nor copied: the same Buffer may be
 * queued to many streams. `callback` is called as `write()`'s is (never from within this call).
 * Returns false, queueing nothing, when `ws` is not open for writing (no handshake yet, closing,
 * closed). Throws ERR_WS_INVALID_ARGUMENT on a client-role stream, or for RSV1 without deflate.
 */
export function queuePreparedFrame(
  ws: WebSocketStream,
  frame: Buffer,
  callback?: (err: WebSocketError | null) => void,
): boolean {
  return queue(ws, frame, callback);
}

/**
 * For a caller at the end of a turn (a run deferred with `deferQueueing` and called with
 * `atTurnEnd`) that writes nothing else to `ws` in this turn: when nothing is queued, held,
 * compressing or in flight on `ws` and its socket holds nothing, `frame` (as for
 * `queuePreparedFrame`) is what the turn's flush would write, so it is handed to the socket at
 * once (no queue, no flush, nobody waits) and this returns true. Otherwise it writes nothing and
 * returns false: queue the frame with `queuePreparedFrame`, which also says whether `ws` is open.
 */
export function tryWritePreparedFrameNow(ws: WebSocketStream, frame: Buffer): boolean {
  return writeNow(ws, frame);
}

/**
 * Calls `callback` once everything queued to `ws` before this call (its whole `bufferedAmount`
 * now) has been handed to the operating system, as the callback of a prepared frame queued now
 * would be, with nothing queued (an error if the connection fails first; never from within this
 * call). For a writer that waits for room in the backlog with nothing of its own in it. Returns
 * false, calling nothing, when `ws` is not open for writing.
 */
export function whenWritten(ws: WebSocketStream, callback: (err: WebSocketError | null) => void): boolean {
  return afterWritten(ws, callback);
}

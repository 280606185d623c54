/**
 * The one link between pub/sub and the stream's internals: queue an already framed message
 * (header + payload, unmasked) to a server-role stream, in order with its other writes.
 *
 * Stopgap until the stream exports its own `queuePreparedFrame` (issue 13, branch `core`): the
 * stream's internal raw queue, used only while the stream is open. Replace this body, nothing else.
 */
import type { WebSocketStream } from '../stream/websocket-stream.js';

/** Queues `frame` to `ws` as it is (the same Buffer, no copy); false when `ws` is not open. */
export function queuePreparedFrame(ws: WebSocketStream, frame: Buffer): boolean {
  if (!ws.isOpen) return false;
  ws._writeRaw(frame);
  return true;
}

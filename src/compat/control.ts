/**
 * Ping and pong events: every compat stream shares one control callback (so a server's streams
 * share one normalised options object), which finds the WebSocket a stream belongs to here.
 */
import type { EventEmitter } from 'node:events';
import type { WebSocketStream } from '../stream/websocket-stream.js';

interface Owner extends EventEmitter {
  readonly readyState: number;
  _control(kind: 'ping' | 'pong', payload: Buffer, stream: WebSocketStream): void;
  _closeReason: Buffer | null;
}

/** Which WebSocket a stream belongs to. */
export const owners = new WeakMap<WebSocketStream, Owner>();

const CLOSED = 3;

export function onControl(kind: 'ping' | 'pong' | 'close', payload: Buffer, stream: WebSocketStream): void {
  const ws = owners.get(stream);
  if (ws === undefined || ws.readyState === CLOSED) return;
  // The close is reported by the 'close' event, with the reason's bytes as they came (ws's Buffer;
  // not UTF-8 with skipUTF8Validation).
  if (kind === 'close') ws._closeReason = payload.length > 2 ? Buffer.from(payload.subarray(2)) : null;
  else ws._control(kind, payload, stream);
}

/**
 * Ping and pong events: every compat stream shares one control callback (so a server's streams
 * share one normalised options object), which finds the WebSocket a stream belongs to here.
 */
import type { EventEmitter } from 'node:events';
import type { WebSocketStream } from '../stream/websocket-stream.js';

interface Owner extends EventEmitter {
  readonly readyState: number;
  _control(kind: 'ping' | 'pong', payload: Buffer, stream: WebSocketStream): void;
}

/** Which WebSocket a stream belongs to. */
export const owners = new WeakMap<WebSocketStream, Owner>();

const CLOSED = 3;

export function onControl(kind: 'ping' | 'pong' | 'close', payload: Buffer, stream: WebSocketStream): void {
  if (kind === 'close') return; // the close is reported by the 'close' event
  const ws = owners.get(stream);
  if (ws === undefined || ws.readyState === CLOSED) return;
  ws._control(kind, payload, stream);
}

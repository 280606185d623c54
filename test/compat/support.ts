/**
 * Shared by the ws-compat tests: both implementations of the `ws` API (the real `ws` package and
 * `ws-stream/ws`), so that a scenario can be run on each and what ws does taken as the expectation.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { TestContext } from 'node:test';
import RealWebSocket, { createWebSocketStream as realStream, WebSocketServer as RealWebSocketServer } from 'ws';
import CompatWebSocket, {
  WebSocketServer as CompatWebSocketServer,
  createWebSocketStream as compatStream,
} from '../../src/compat/index.js';
import { RawPeer } from '../support/peer.js';
import { KEY } from '../support/frames.js';

export interface Impl {
  name: 'ws' | 'compat';
  // biome-ignore lint/suspicious/noExplicitAny: the two classes share ws's API, not a TypeScript type
  WebSocket: any;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  WebSocketServer: any;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  createWebSocketStream: any;
}

export const ws: Impl = {
  name: 'ws',
  WebSocket: RealWebSocket,
  WebSocketServer: RealWebSocketServer,
  createWebSocketStream: realStream,
};
export const compat: Impl = {
  name: 'compat',
  WebSocket: CompatWebSocket,
  WebSocketServer: CompatWebSocketServer,
  createWebSocketStream: compatStream,
};
export const impls: Impl[] = [ws, compat];

/** A bad frame sent by a raw client, and what both engines must report for it. */
export interface BadCase {
  name: string;
  bytes: Buffer;
  code: string;
  /** The close code sent to the peer. */
  wire: number;
  range: boolean;
  /** ws's message, where ws-stream/ws gives the same one. */
  message?: string;
  options?: Record<string, unknown>;
}

// biome-ignore lint/suspicious/noExplicitAny: ws's API
type Server = any;

/** A server of `impl` on 127.0.0.1, port 0, closed (its clients terminated) after the test. */
export async function listen(
  t: TestContext,
  impl: Impl,
  options: Record<string, unknown> = {},
): Promise<{ wss: Server; port: number }> {
  const wss = new impl.WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  t.after(() => {
    for (const c of wss.clients ?? []) c.terminate();
    wss.close();
  });
  await once(wss, 'listening');
  return { wss, port: wss.address().port };
}

/** A raw TCP peer that has sent `head` (an upgrade request by default), closed after the test. */
export async function rawPeer(t: TestContext, port: number, head?: string | Buffer): Promise<RawPeer> {
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  const peer = new RawPeer(socket);
  peer.send(
    head ??
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  return peer;
}

/** Records the events of an EventEmitter as `name` or `name:arg` strings. */
export function recordEvents(
  emitter: { on(e: string, f: (...a: unknown[]) => void): unknown },
  events: string[],
  describe: Record<string, (...a: unknown[]) => string> = {},
): string[] {
  const seen: string[] = [];
  for (const e of events) emitter.on(e, (...a) => seen.push(describe[e] ? `${e}:${describe[e](...a)}` : e));
  return seen;
}

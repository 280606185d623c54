/**
 * The engines every framework test runs on: the real `ws` package (which validates the test itself) and
 * `ws-stream/ws` (this package's drop-in, imported by its published name as a user would). Setting
 * FRAMEWORKS_ENGINE=ws or FRAMEWORKS_ENGINE=ws-stream/ws runs one of them alone.
 */
import http from 'node:http';
import type net from 'node:net';
import * as ws from 'ws';
import * as wsStream from 'ws-stream/ws';

export interface Engine {
  name: 'ws' | 'ws-stream/ws';
  WebSocket: typeof ws.WebSocket;
  WebSocketServer: typeof ws.WebSocketServer;
  createWebSocketStream: typeof ws.createWebSocketStream;
}

const all: Engine[] = [
  {
    name: 'ws',
    WebSocket: ws.WebSocket,
    WebSocketServer: ws.WebSocketServer,
    createWebSocketStream: ws.createWebSocketStream,
  },
  // Typed as ws's classes (frameworks type against @types/ws); ws-stream/ws has its own declarations, which differ in
  // details (binaryType 'blob', which ws 8.18 has and @types/ws lacks; ws's private members), hence the casts.
  {
    name: 'ws-stream/ws',
    WebSocket: wsStream.WebSocket as unknown as typeof ws.WebSocket,
    WebSocketServer: wsStream.WebSocketServer as unknown as typeof ws.WebSocketServer,
    createWebSocketStream: wsStream.createWebSocketStream as unknown as typeof ws.createWebSocketStream,
  },
];

const only = process.env.FRAMEWORKS_ENGINE;
export const engines: Engine[] = only ? all.filter((e) => e.name === only) : all;
if (engines.length === 0) throw new Error(`FRAMEWORKS_ENGINE=${only}: no such engine (ws, ws-stream/ws)`);

/** An HTTP server listening on 127.0.0.1 at a free port. */
export async function listen(
  server: http.Server = http.createServer(),
): Promise<{ server: http.Server; port: number }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** Closes an HTTP server and every connection it still holds. */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/**
 * The first argument of the next `event` on an emitter of any kind (Node's, or the component-emitter of
 * socket.io-client); rejects on `failEvent` first when one is named.
 */
export function nextEvent<T = unknown>(emitter: object, event: string, failEvent?: string): Promise<T> {
  const e = emitter as {
    once(event: string, f: (arg: never) => void): unknown;
    off(event: string, f: (arg: never) => void): unknown;
  };
  return new Promise((resolve, reject) => {
    const onFail = (err: Error) => {
      e.off(event, onEvent);
      reject(err);
    };
    const onEvent = (arg: T) => {
      if (failEvent) e.off(failEvent, onFail);
      resolve(arg);
    };
    e.once(event, onEvent);
    if (failEvent) e.once(failEvent, onFail);
  });
}

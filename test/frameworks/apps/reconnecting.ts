/**
 * reconnecting-websocket 4 with ws's WebSocket as its `WebSocket` option (Node has no global one it can use), run by
 * reconnecting-websocket.test.ts with `ws` as installed or aliased to ws-stream/ws, against a real ws server: messages
 * queued before the open and while disconnected, binaryType, the server terminating (1006) and closing (4000), a
 * server restart on the same port, `reconnect()`, and `close()`. Prints what the client and the server saw.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import RWSModule from 'reconnecting-websocket';
import WebSocket from 'ws';
import { ours, RealWebSocket, report } from './peer.js';

// Its CommonJS build exports the class itself; its types describe an ES module with a default export.
const ReconnectingWebSocket = RWSModule as unknown as typeof RWSModule.default;

type Server = InstanceType<typeof RealWebSocket.WebSocketServer>;
/** Per connection, what the server received. */
const connections: string[][] = [];
const http = createServer();
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
/** A WebSocket server (of the real ws) on the one HTTP server: replacing it is the application's restart. */
function startServer(): Server {
  const s = new RealWebSocket.WebSocketServer({
    server: http,
    handleProtocols: (offered) => (offered.has('chat') ? 'chat' : false),
  });
  s.on('connection', (ws) => {
    const got: string[] = [];
    connections.push(got);
    ws.on('message', (data, isBinary) => {
      got.push(isBinary ? `bin ${(data as Buffer).length}` : String(data));
      ws.send(data, { binary: isBinary });
    });
  });
  return s;
}
let server = startServer();
const { port } = http.address() as AddressInfo;

const rws = new ReconnectingWebSocket(`ws://127.0.0.1:${port}/`, ['chat'], {
  WebSocket,
  minReconnectionDelay: 10,
  maxReconnectionDelay: 50,
  reconnectionDelayGrowFactor: 1,
  maxRetries: 1000,
  maxEnqueuedMessages: 100,
});
const result: Record<string, unknown> = { isOurs: WebSocket === (ours.default as unknown) };
const events: unknown[] = [];
const received: string[] = [];
let wake: (() => void) | null = null;
/** Resolves at the next event of `type` ('open', 'close') or once `received` has `count` messages. */
function next(type: string): Promise<void> {
  return new Promise((resolve) => {
    const f = () => {
      rws.removeEventListener(type as 'open', f);
      resolve();
    };
    rws.addEventListener(type as 'open', f);
  });
}
function messages(count: number): Promise<void> {
  return received.length >= count ? Promise.resolve() : new Promise((resolve) => (wake = resolve));
}
rws.addEventListener('open', () => {
  events.push(['open', rws.protocol]);
});
rws.addEventListener('error', (e) => {
  events.push(['error', e.message]);
});
rws.addEventListener('close', (e) => {
  events.push(['close', e.code, e.reason]);
  // Sent while disconnected: queued, then sent after the reconnect.
  if (e.code !== 1000) rws.send(`queued after ${e.code}`);
});
rws.addEventListener('message', (e) => {
  const data = e.data as unknown;
  received.push(data instanceof ArrayBuffer ? `ab ${[...new Uint8Array(data)]}` : String(data));
  if (wake) {
    const w = wake;
    wake = null;
    w();
  }
});

rws.send('before open');
await next('open');
await messages(1);
rws.binaryType = 'arraybuffer';
rws.send(new Uint8Array([7, 8, 9]));
await messages(2);

// The server terminates the connection: 1006, a reconnect, the queued message.
let reopened = next('open');
for (const ws of server.clients) ws.terminate();
await reopened;
await messages(3);

// The server closes with a code and reason.
reopened = next('open');
for (const ws of server.clients) ws.close(4000, 'go away');
await reopened;
await messages(4);

// The application restarts its WebSocket server (a new one on the same HTTP server): 1006, then the queued message.
reopened = next('open');
for (const ws of server.clients) ws.terminate();
server.close();
server = startServer();
await reopened;
await messages(5);

// reconnect() by hand, then close().
reopened = next('open');
rws.reconnect(4001, 'again');
await reopened;
rws.send('after reconnect');
await messages(6);
const closed = next('close');
rws.close(1000, 'done');
await closed;
result.readyState = rws.readyState;
result.events = events;
result.received = received;
result.serverSaw = connections;
const serverClosed = [...server.clients].map((ws) => new Promise((resolve) => ws.once('close', resolve)));
await Promise.all(serverClosed);
server.close();
await new Promise((resolve) => http.close(resolve));
report(result);

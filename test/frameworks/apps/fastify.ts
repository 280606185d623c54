/**
 * A fastify 5 + @fastify/websocket 11 app, run by fastify-websocket.test.ts with `ws` as installed or aliased to
 * ws-stream/ws. Its clients are the real ws. Prints what the clients and the server saw.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import websocket from '@fastify/websocket';
import Fastify from 'fastify';
import WebSocket, { createWebSocketStream } from 'ws';
import { aliased, client, closed, collect, ours, report } from './peer.js';

const STREAM_CHUNKS = 64;
const CHUNK = 64 * 1024;

const app = Fastify();
// closeTimeout: ws's server side of an injectWS connection (a duplexify pair, which never emits 'close' by itself)
// closes only when this timer destroys it; ws-stream/ws releases it once both sides have ended.
// (ws 8.19 has the option; @types/ws does not list it yet.)
const options = { maxPayload: 8 * 1024 * 1024, closeTimeout: 1000 };
await app.register(websocket, { options });

/** Server-side closes, by route, and a wait for each. */
const serverCloses: string[] = [];
const serverClosed: Promise<void>[] = [];
function track(socket: WebSocket, route: string): void {
  serverClosed.push(
    new Promise((resolve) =>
      socket.once('close', (code, reason) => {
        serverCloses.push(`${route}:${code}:${String(reason)}`);
        resolve();
      }),
    ),
  );
}
const rooms = new Map<string, Set<WebSocket>>();

await app.register(async (scope) => {
  // Authentication in a hook that runs before the upgrade: a refused client gets this HTTP answer, not a WebSocket.
  scope.addHook('preValidation', async (request, reply) => {
    const { token } = request.query as { token?: string };
    if (token !== 'secret') await reply.code(401).send({ error: 'bad token' });
  });

  scope.get('/echo', { websocket: true }, (socket) => {
    track(socket, 'echo');
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });

  scope.get<{ Params: { room: string } }>('/rooms/:room', { websocket: true }, (socket, request) => {
    const { room } = request.params;
    const members = rooms.get(room) ?? new Set();
    rooms.set(room, members);
    members.add(socket);
    socket.on('message', (data) => {
      for (const member of members) if (member.readyState === WebSocket.OPEN) member.send(`${room}:${String(data)}`);
    });
    track(socket, 'room');
    socket.on('close', () => members.delete(socket));
    socket.send(`joined ${room} (${members.size})`);
  });

  scope.get('/bye', { websocket: true }, (socket) => {
    track(socket, 'bye');
    socket.close(4001, 'bye now');
  });

  // A handler that throws: @fastify/websocket's default error handler terminates the socket.
  scope.get('/throws', { websocket: true }, () => {
    throw new Error('handler failed');
  });

  // Backpressure through createWebSocketStream: a large stream piped into the WebSocket, then its end (close 1005).
  scope.get('/stream', { websocket: true }, (socket) => {
    track(socket, 'stream');
    const duplex = createWebSocketStream(socket);
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < STREAM_CHUNKS; i++) yield Buffer.alloc(CHUNK, i);
      })(),
    );
    pipeline(source, duplex).catch((err: Error) => serverCloses.push(`stream-error:${err.message}`));
  });
});

app.get('/health', async () => ({ ok: true }));

await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address() as { port: number };
const base = `ws://127.0.0.1:${port}`;
const result: Record<string, unknown> = {
  aliased: aliased(createRequire(import.meta.url).resolve('@fastify/websocket')),
  serverIsOurs: app.websocketServer instanceof ours.WebSocketServer,
};

// Plain HTTP on the same server, and a WebSocket route asked for without an upgrade.
result.health = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
result.plainGetOnWsRoute = (await fetch(`http://127.0.0.1:${port}/echo?token=secret`)).status;

// Authentication refused in the upgrade.
result.refused = await client(`${base}/echo?token=wrong`).opened.then(
  () => 'opened',
  (err: { status?: number; body?: string }) => ({ status: err.status, body: err.body }),
);

// Echo: text, binary, a large message, 100 in a row, one over maxPayload.
const echo = client(`${base}/echo?token=secret`);
await echo.opened;
echo.ws.send('héllo ✓');
echo.ws.send(Buffer.from([1, 2, 3]));
echo.ws.send(Buffer.alloc(5 * 1024 * 1024, 7));
for (let i = 0; i < 100; i++) echo.ws.send(`m${i}`);
result.echo = (await echo.got.until(103)).slice(0, 3);
result.echoOrder = echo.got.messages.slice(3).join(',') === Array.from({ length: 100 }, (_, i) => `m${i}`).join(',');
echo.ws.send(Buffer.alloc(8 * 1024 * 1024 + 1));
result.overMaxPayload = await echo.closed;

// Rooms: route params, and a broadcast reaches the members of that room only.
const a1 = client(`${base}/rooms/a?token=secret`);
await a1.got.until(1);
const a2 = client(`${base}/rooms/a?token=secret`);
await a2.got.until(1);
const b1 = client(`${base}/rooms/b?token=secret`);
await b1.got.until(1);
a1.ws.send('hi all');
b1.ws.send('only b');
await Promise.all([a1.got.until(2), a2.got.until(2), b1.got.until(2)]);
result.rooms = [a1.got.messages, a2.got.messages, b1.got.messages];

// The server closes with a code and reason; a throwing handler has the socket terminated.
result.bye = await client(`${base}/bye?token=secret`).closed;
result.throws = await client(`${base}/throws?token=secret`).closed;

// createWebSocketStream with backpressure: every chunk arrives, in order, then the close.
const stream = client(`${base}/stream?token=secret`);
const streamClose = await stream.closed;
const sizes = new Set(stream.got.messages.map((m) => m.split(':')[1]));
result.stream = {
  close: streamClose,
  count: stream.got.messages.length,
  sizes: [...sizes],
  inOrder: stream.got.messages.every((m, i) => m.endsWith(`:${i}`)),
};

// injectWS: fastify's in-process client (a WebSocket on a PassThrough pair, set up with setSocket).
const injected = await app.injectWS('/echo?token=secret');
const injectedGot = collect(injected);
const injectedClosed = closed(injected);
injected.send('injected');
result.injected = await injectedGot.until(1);
injected.close(1000, 'done');
result.injectedClose = await injectedClosed;

// Shutdown: fastify's preClose closes the clients still open, then the server.
await app.close();
result.shutdown = await Promise.all([a1.closed, a2.closed, b1.closed]);
await Promise.all(serverClosed);
result.serverCloses = serverCloses.sort();
result.clientsLeft = app.websocketServer.clients.size;
report(result);

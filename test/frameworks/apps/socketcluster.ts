/**
 * socketcluster-server 20 and socketcluster-client 20 (each requires `ws`), run by socketcluster.test.ts with `ws` as
 * installed or aliased to ws-stream/ws, so both sides are on the one engine. The server makes `new
 * wsEngine.Server({ server, verifyClient, perMessageDeflate, clientTracking: false })` (ws's `Server` alias) with an
 * async verifyClient that answers with `callback(false, status, message)`: 401 when the handshake middleware blocks,
 * 403 for an origin not allowed. The client makes `new WebSocket(uri, [], wsOptions)`, sets `binaryType` to
 * 'arraybuffer', uses the `on*` handlers and compares `readyState` with the instance's `OPEN`. The flow: a refused
 * token and a refused origin (the client's 'connectAbort'), two clients connected with permessage-deflate (`origin`
 * passed through wsOptions), RPCs (a result, a server error by name, 256 KiB of binary), a transmit, a subscription
 * fed by the exchange and by a client, a JWT set by the server, a kick with 4500, a client's own disconnect, and the
 * server closing (terminate). Prints what the clients and the server saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { aliased, client, ours, queue, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of socketcluster-server and socketcluster-client (async iterables everywhere). */
interface Consumable<T> extends AsyncIterable<T> {
  once(): Promise<T>;
}
interface Request {
  data: unknown;
  end(result?: unknown): void;
  error(err: Error): void;
}
interface ServerSocket {
  id: string;
  request: http.IncomingMessage;
  socket: unknown;
  procedure(name: string): AsyncIterable<Request>;
  receiver(name: string): AsyncIterable<unknown>;
  setAuthToken(token: object): Promise<void>;
  disconnect(code?: number, reason?: string): void;
}
interface Action {
  type: string;
  request: http.IncomingMessage;
  allow(): void;
  block(err: Error): void;
}
interface Server {
  MIDDLEWARE_HANDSHAKE: string;
  wsServer: unknown;
  exchange: { transmitPublish(channel: string, data: unknown): Promise<void> };
  listener(name: 'connection'): Consumable<{ socket: ServerSocket }>;
  listener(name: 'disconnection'): Consumable<{ socket: ServerSocket; code: number; reason?: string }>;
  listener(name: 'error' | 'warning'): Consumable<{ error?: Error; warning?: Error }>;
  setMiddleware(type: string, f: (stream: AsyncIterable<Action>) => void): void;
  close(): Promise<void>;
}
interface Channel extends AsyncIterable<unknown> {
  listener(name: 'subscribe'): Consumable<unknown>;
}
interface ClientSocket {
  id: string;
  state: string;
  authToken: { username?: string } | null;
  transport?: { socket: { extensions: string; binaryType: string } };
  listener(name: string): Consumable<Record<string, unknown>>;
  invoke(name: string, data?: unknown): Promise<unknown>;
  transmit(name: string, data?: unknown): Promise<void>;
  transmitPublish(channel: string, data: unknown): Promise<void>;
  subscribe(channel: string): Channel;
  disconnect(code?: number, reason?: string): void;
}
const { attach } = require('socketcluster-server') as { attach(s: http.Server, o: object): Server };
const { create } = require('socketcluster-client') as { create(o: object): ClientSocket };

const httpServer = http.createServer();
const agServer = attach(httpServer, { perMessageDeflate: true, origins: 'app.example:*', authKey: 'test-secret' });
const serverSaw: string[] = [];
const notes = queue<unknown>();
const disconnections = queue<string>();
const serverSockets = new Map<string, ServerSocket>();

agServer.setMiddleware(agServer.MIDDLEWARE_HANDSHAKE, async (stream) => {
  for await (const action of stream) {
    const token = new URL(action.request.url ?? '/', 'http://x').searchParams.get('token');
    if (action.type === 'handshakeWS' && token !== 'good') action.block(new Error('bad token'));
    else action.allow();
  }
});
(async () => {
  for await (const { socket } of agServer.listener('connection')) {
    serverSockets.set(socket.id, socket);
    serverSaw.push(`connection ${socket.request.url} ${socket.request.headers.origin}`);
    (async () => {
      for await (const req of socket.procedure('greet')) req.end(`hello ${req.data}`);
    })();
    (async () => {
      for await (const req of socket.procedure('fail')) {
        const err = new Error(`cannot ${req.data}`);
        err.name = 'BadCustomError';
        req.error(err);
      }
    })();
    (async () => {
      for await (const req of socket.procedure('size')) {
        // sc-formatter sends a Buffer as base64 in the JSON.
        const { base64, data } = req.data as { base64: boolean; data: string };
        const bytes = Buffer.from(data, 'base64');
        req.end({ base64, length: bytes.length, first: bytes[0] });
      }
    })();
    (async () => {
      for await (const req of socket.procedure('login')) {
        await socket.setAuthToken({ username: req.data });
        req.end('ok');
      }
    })();
    (async () => {
      for await (const data of socket.receiver('note')) notes.push(data);
    })();
  }
})();
(async () => {
  for await (const { socket, code, reason } of agServer.listener('disconnection'))
    disconnections.push(`${socket.request.url} ${code} ${reason ?? ''}`);
})();
(async () => {
  for await (const { warning } of agServer.listener('warning')) serverSaw.push(`warning ${warning?.message}`);
})();

await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const { port } = httpServer.address() as AddressInfo;
const result: Record<string, unknown> = {
  aliased: aliased(require.resolve('socketcluster-server')),
  clientAliased: aliased(require.resolve('socketcluster-client')),
  serverIsOurs: agServer.wsServer instanceof ours.WebSocketServer,
};

const connect = (token: string, origin = 'http://app.example') =>
  create({
    hostname: '127.0.0.1',
    port,
    query: { token },
    autoReconnect: false,
    wsOptions: { origin, perMessageDeflate: true },
  });

/** A client that is refused: what its 'connectAbort' and 'error' listeners get. */
const refused = async (token: string, origin?: string) => {
  const socket = connect(token, origin);
  const error = socket.listener('error').once();
  const abort = await socket.listener('connectAbort').once();
  return {
    abort: { code: abort.code, reason: abort.reason },
    error: (await error).error?.toString(),
    state: socket.state,
  };
};
result.refusedToken = await refused('bad');
result.refusedOrigin = await refused('good', 'http://evil.example');
// What the server answers them, as a plain ws client sees it: verifyClient's status and message.
const answer = (token: string, origin: string) =>
  client(`ws://127.0.0.1:${port}/socketcluster/?token=${token}`, { origin }).opened.then(
    () => 'opened',
    (err: { status?: number; body?: string }) => `${err.status} ${err.body}`,
  );
result.answers = [await answer('bad', 'http://app.example'), await answer('good', 'http://evil.example')];

const alice = connect('good');
const connected = await alice.listener('connect').once();
result.connect = { isAuthenticated: connected.isAuthenticated, state: alice.state };
result.transport = {
  extensions: alice.transport?.socket.extensions,
  binaryType: alice.transport?.socket.binaryType,
};

result.greet = await alice.invoke('greet', 'ada');
result.fail = await alice.invoke('fail', 'divide').then(
  () => 'resolved',
  (err: Error) => `${err.name}: ${err.message}`,
);
result.size = await alice.invoke('size', Buffer.alloc(256 * 1024, 9));
await alice.transmit('note', { text: 'héllo', n: 1 });
result.note = await notes.next();

// A channel: published by the server's exchange, then by another client.
const bob = connect('good');
await bob.listener('connect').once();
const news = bob.subscribe('news');
await news.listener('subscribe').once();
const items = news[Symbol.asyncIterator]();
await agServer.exchange.transmitPublish('news', 'from the server');
await alice.transmitPublish('news', { from: 'alice' });
result.news = [(await items.next()).value, (await items.next()).value];

// A JWT issued by the server: the client's 'authenticate' and its decoded token.
const authenticated = alice.listener('authenticate').once();
result.login = await alice.invoke('login', 'ada');
await authenticated;
result.authToken = alice.authToken?.username;

// The server kicks bob with a code of its own.
const kicked = bob.listener('disconnect').once();
const bobServer = [...serverSockets.values()].at(-1);
bobServer?.disconnect(4500, 'kicked');
const bobDisconnect = await kicked;
result.kicked = { code: bobDisconnect.code, reason: bobDisconnect.reason };

// A third client leaves by itself; then the server closes with alice still connected (terminate: 1006).
const carol = connect('good');
await carol.listener('connect').once();
carol.disconnect(1000, 'bye');
const aliceGone = alice.listener('disconnect').once();
const serverDisconnects = [await disconnections.next(), await disconnections.next()];
await agServer.close();
const aliceDisconnect = await aliceGone;
result.serverClosed = { code: aliceDisconnect.code, reason: aliceDisconnect.reason };
serverDisconnects.push(await disconnections.next());
result.serverDisconnects = serverDisconnects.sort();
result.serverSaw = serverSaw;
httpServer.close();
report(result);

/**
 * @hapi/nes 14 on hapi 21, run by nes.test.ts with `ws` as installed or aliased to ws-stream/ws: both its server
 * (`new Ws.Server({ server: hapi's listener, verifyClient })`, `ws.close()`, `terminate()` on stop) and its node
 * client (`new Ws(url, { origin, maxPayload: 0 })` driven through onopen/onmessage/onerror/onclose and the close
 * event's code and wasClean) require `ws`, so with the alias both ends are ws-stream/ws. The flow is nes's README's:
 * requests routed over the socket, custom messages, subscriptions with server publishes (one of 1 MiB), a broadcast,
 * a server-side disconnect the client reconnects from (its subscription renewed), a refused Origin, the client's own
 * disconnect, and server.stop() disconnecting the last client. Prints what the client and the server saw.
 */
import { createRequire } from 'node:module';
import { aliased, ours, queue, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of hapi and nes. */
interface NesSocket {
  id: string;
  disconnect(): Promise<void>;
}
interface HapiServer {
  info: { port: number };
  plugins: { nes: { _listener: { _wss: object } } };
  register(plugin: object): Promise<void>;
  route(route: object): void;
  subscription(path: string): void;
  publish(path: string, message: unknown): void;
  broadcast(message: unknown): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}
interface DisconnectLog {
  code: number;
  explanation: string;
  reason: string;
  wasClean: boolean;
  willReconnect: boolean;
  wasRequested: boolean;
}
interface NesClient {
  id: string | null;
  onConnect: () => void;
  onDisconnect: (willReconnect: boolean, log: DisconnectLog) => void;
  onUpdate: (message: unknown) => void;
  onError: (err: Error) => void;
  connect(options?: object): Promise<void>;
  disconnect(): Promise<void>;
  request(options: string | object): Promise<{ payload: unknown; statusCode: number }>;
  message(message: unknown): Promise<{ payload: unknown }>;
  subscribe(path: string, handler: (message: unknown, flags: object) => void): Promise<void>;
}
const Hapi = require('@hapi/hapi') as { server(options: object): HapiServer };
const Nes = require('@hapi/nes') as object & { Client: new (url: string, options?: object) => NesClient };
const result: Record<string, unknown> = { aliased: aliased(require.resolve('@hapi/nes')) };

const connections = queue<NesSocket>();
const disconnections = queue<string>();
const server = Hapi.server({ host: '127.0.0.1', port: 0 });
await server.register({
  plugin: Nes,
  options: {
    origin: ['http://app.example'],
    heartbeat: false,
    onConnection: (socket: NesSocket) => connections.push(socket),
    onDisconnection: (socket: NesSocket) => disconnections.push(socket.id),
    onMessage: (_socket: NesSocket, message: unknown) => ({ echoed: message }),
  },
});
server.route({ method: 'GET', path: '/h', options: { id: 'hello', handler: () => 'world' } });
server.route({ method: 'POST', path: '/echo', handler: (request: { payload: unknown }) => request.payload });
server.subscription('/items/{id}');
await server.start();
result.serverIsOurs = server.plugins.nes._listener._wss instanceof ours.WebSocketServer;
const url = `ws://127.0.0.1:${server.info.port}`;

const client = new Nes.Client(url, { ws: { origin: 'http://app.example' } });
const connects = queue<string>();
const disconnects = queue<DisconnectLog>();
const updates = queue<unknown>();
const items = queue<unknown>();
client.onConnect = () => connects.push('connect');
client.onDisconnect = (_willReconnect, log) => disconnects.push(log);
client.onUpdate = (message) => updates.push(message);
await client.connect({ delay: 10 });
await connects.next();
const first = await connections.next();
result.ids = client.id === first.id;

// Requests routed to hapi's handlers, and a custom message.
const hello = await client.request('/h');
const echo = await client.request({ path: '/echo', method: 'POST', payload: { a: [1, 'é'] } });
const missing = await client.request('/missing').then(
  () => 'answered',
  (err: { statusCode?: number; message: string }) => [err.statusCode, err.message],
);
const message = await client.message({ hi: 1 });
result.requests = [[hello.statusCode, hello.payload], [echo.statusCode, echo.payload], missing, message.payload];

// A subscription: publishes reach the handler (one of 1 MiB, which the client's maxPayload: 0 lets through).
await client.subscribe('/items/5', (item) => items.push(item));
server.publish('/items/5', { n: 1 });
server.publish('/items/6', { n: 'not subscribed' });
server.publish('/items/5', { big: 'x'.repeat(1024 * 1024) });
const got1 = await items.next();
const got2 = (await items.next()) as { big: string };
server.broadcast('news');
result.published = [got1, got2.big.length, await updates.next()];

// The server disconnects the socket: the client is told, reconnects, and its subscription is renewed.
await first.disconnect();
const dropped = await disconnects.next();
await connects.next();
const second = await connections.next();
server.publish('/items/5', { n: 2 });
result.reconnected = {
  dropped,
  serverSawLeave: (await disconnections.next()) === first.id,
  newSocket: second.id !== first.id && client.id === second.id,
  item: await items.next(),
};

// A page of another origin: the upgrade is refused (verifyClient), the client's connect fails.
const foreign = new Nes.Client(url, { ws: { origin: 'http://evil.example' } });
result.foreign = await foreign.connect({ reconnect: false }).then(
  () => 'connected',
  (err: Error & { type?: string }) => [err.message, err.type],
);

// The client leaves: the server sees it go.
await client.disconnect();
result.left = [await disconnects.next(), (await disconnections.next()) === second.id];

// A last client, then the server stops: the client is disconnected by it.
const last = new Nes.Client(url, { ws: { origin: 'http://app.example' } });
const lastDisconnects = queue<DisconnectLog>();
last.onDisconnect = (_willReconnect, log) => lastDisconnects.push(log);
await last.connect({ reconnect: false });
const third = await connections.next();
await server.stop();
result.stopped = [await lastDisconnects.next(), (await disconnections.next()) === third.id];
report(result);

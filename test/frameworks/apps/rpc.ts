/**
 * rpc-websockets 10 (JSON-RPC 2.0: its Server on ws's WebSocketServer, its Client on ws's WebSocket), run by
 * rpc-websockets.test.ts with `ws` as installed or aliased to ws-stream/ws: both roles are the engine under test. A
 * raw client of the real ws speaks JSON-RPC to the server too. Prints what the clients and the server saw.
 */
import { createRequire } from 'node:module';
import { Client, Server } from 'rpc-websockets';
import { aliased, client, ours, report } from './peer.js';

type RpcError = { code: number; message: string };
const result: Record<string, unknown> = { aliased: aliased(createRequire(import.meta.url).resolve('rpc-websockets')) };

function startServer(port: number): Promise<Server> {
  const server = new Server({ host: '127.0.0.1', port });
  return new Promise((resolve, reject) => {
    server.on('listening', () => resolve(server));
    server.on('error', reject);
  });
}
function opened(c: Client): Promise<void> {
  return new Promise((resolve, reject) => {
    c.once('open', () => resolve());
    c.once('error', reject);
  });
}
const error = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: RpcError) => ({ code: e.code, message: e.message }),
  );

let server = await startServer(0);
const wss = server.wss as unknown as { address(): { port: number } };
const { port } = wss.address();
result.serverIsOurs = server.wss instanceof ours.WebSocketServer;
const url = `ws://127.0.0.1:${port}`;

function setUp(s: Server): void {
  // rpc-websockets types params loosely (IRPCMethodParams) and results as void.
  const method = <P>(f: (params: P) => unknown) => f as never;
  s.register(
    'sum',
    method((params: number[]) => params.reduce((a, b) => a + b, 0)),
  );
  s.register(
    'size',
    method((params: { text: string }) => params.text.length),
  );
  s.register(
    'later',
    method(async (params: [number]) => {
      await new Promise((r) => setImmediate(r));
      return params[0] * 2;
    }),
  );
  s.register('fails', () => {
    throw new Error('it failed');
  });
  s.setAuth(async (params) => (params as { user?: string }).user === 'admin');
  s.register('secret', () => 'the secret').protected();
  s.event('tick');
  s.register('stats', () => ({ ns: 'admin' }), '/admin');
}
setUp(server);
const disconnected = new Promise<void>((resolve) => server.once('disconnection', () => resolve()));

const rpc = new Client(url, { reconnect: false });
await opened(rpc);
result.sum = await rpc.call('sum', [1, 2, 3]);
result.size = await rpc.call('size', { text: 'é'.repeat(1_000_000) });
result.many = await Promise.all(Array.from({ length: 50 }, (_, i) => rpc.call('later', [i])));
result.notFound = await error(rpc.call('nope'));
result.fails = await error(rpc.call('fails'));
result.beforeLogin = await error(rpc.call('secret'));
result.badLogin = await error(rpc.login({ user: 'mallory' }));
result.login = await rpc.login({ user: 'admin' });
result.secret = await rpc.call('secret');
const ticks: unknown[] = [];
const ticked = new Promise<void>((resolve) =>
  rpc.on('tick', (params: unknown) => {
    ticks.push(params);
    if (ticks.length === 3) resolve();
  }),
);
await rpc.subscribe('tick');
for (let n = 1; n <= 3; n++) server.emit('tick', { n });
await ticked;
result.ticks = ticks;

// The '/admin' namespace.
const admin = new Client(`${url}/admin`, { reconnect: false });
await opened(admin);
result.admin = await admin.call('stats');
result.adminNotHere = await error(admin.call('sum', [1]));

// A raw JSON-RPC client on the real ws.
const raw = client(url);
await raw.opened;
raw.ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'sum', params: [40, 2], id: 7 }));
raw.ws.send('not json');
await raw.got.until(2);
// The parse error is answered at once, the call after an await: in either order.
result.raw = [...raw.got.messages].sort().map((m) => JSON.parse(m));

// The client closes (1000): the server sees the disconnection; no reconnect.
const rpcClosed = new Promise<unknown[]>((resolve) => rpc.once('close', (code: number) => resolve([code])));
rpc.close();
result.rpcClose = await rpcClosed;
await disconnected;

// A restart on the same port: a client with reconnect comes back by itself and calls again.
const again = new Client(url, { reconnect: true, reconnect_interval: 20, max_reconnects: 0 });
await opened(again);
const adminClosed = new Promise<number>((resolve) => admin.once('close', (code: number) => resolve(code)));
const againClosed = new Promise<number>((resolve) => again.once('close', (code: number) => resolve(code)));
const reopened = new Promise<void>((resolve) => again.once('open', () => resolve()));
for (const socket of (server.wss as unknown as { clients: Set<{ terminate(): void }> }).clients) socket.terminate();
await server.close();
result.terminated = [await adminClosed, await againClosed];
server = await startServer(port);
setUp(server);
await reopened;
result.afterRestart = await again.call('sum', [5, 5]);
const againClosedCleanly = new Promise<number>((resolve) => again.once('close', (code: number) => resolve(code)));
again.close();
result.againClose = await againClosedCleanly;
raw.ws.close();
await raw.closed;
for (const socket of (server.wss as unknown as { clients: Set<{ terminate(): void }> }).clients) socket.terminate();
await server.close();
report(result);

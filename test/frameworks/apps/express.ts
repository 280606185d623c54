/**
 * An express 5 + express-ws 5 app, run by express-ws.test.ts with `ws` as express-ws has it (its own ws 7) or aliased
 * to ws-stream/ws. Its clients are the real ws 8. Prints what the clients and the server saw. Handlers are written
 * for both ws 7 (text arrives as a string) and ws 8 (a Buffer and isBinary).
 */
import { createRequire } from 'node:module';
import type { IncomingMessage } from 'node:http';
import { aliased, client, ours, report } from './peer.js';

interface Socket {
  readyState: number;
  send(data: unknown, options?: { binary?: boolean }): void;
  close(code?: number, reason?: string): void;
  ping(data?: unknown): void;
  on(event: string, f: (...args: never[]) => void): void;
  once(event: string, f: (...args: never[]) => void): void;
}
type Handler = (ws: Socket, req: IncomingMessage & { params: Record<string, string> }, next: () => void) => void;
interface App {
  ws(path: string, ...handlers: Handler[]): void;
  get(path: string, h: (req: unknown, res: { json(v: unknown): void }) => void): void;
  use(...args: unknown[]): void;
  listen(port: number, host: string, cb: () => void): import('node:http').Server;
}

const require = createRequire(import.meta.url);
const express = require('express') as { (): App; Router(): App & ((...a: unknown[]) => void) };
const expressWs = require('express-ws') as (
  app: App,
  server?: unknown,
  options?: { wsOptions?: object },
) => { app: App; getWss(): { clients: Set<Socket>; constructor: unknown }; applyTo(router: unknown): void };

const { app, getWss, applyTo } = expressWs(express(), undefined, {
  wsOptions: {
    perMessageDeflate: true,
    // Refusal in the upgrade itself.
    verifyClient: (info: { req: IncomingMessage }) => info.req.headers['x-block'] === undefined,
  },
});

const serverCloses: string[] = [];
const serverClosed: Promise<void>[] = [];
const rooms = new Map<Socket, string>();
function track(ws: Socket, route: string): void {
  serverClosed.push(
    new Promise((resolve) =>
      ws.once('close', ((code: number, reason: unknown) => {
        serverCloses.push(`${route}:${code}:${String(reason ?? '')}`);
        resolve();
      }) as never),
    ),
  );
}

app.get('/health', (_req, res) => res.json({ ok: true }));

app.ws('/echo', (ws) => {
  track(ws, 'echo');
  ws.on('message', ((data: Buffer | string, isBinary?: boolean) => {
    ws.send(data, { binary: typeof data !== 'string' && isBinary !== false });
  }) as never);
  ws.send('ready');
});

app.ws('/chat/:room', (ws, req) => {
  track(ws, 'chat');
  rooms.set(ws, req.params.room);
  ws.on('message', ((data: Buffer | string) => {
    for (const other of getWss().clients)
      if (rooms.get(other) === req.params.room && other.readyState === 1) other.send(`${req.params.room}> ${data}`);
  }) as never);
  ws.on('close', () => rooms.delete(ws));
  ws.send(`in ${req.params.room}`);
});

// A router with middleware: a WebSocket route behind a token check (express-ws closes the socket when a middleware
// answers with an error status).
const router = express.Router();
applyTo(router); // express 5's Router is not the one express-ws patches
router.use(
  (
    req: IncomingMessage & { query?: Record<string, string> },
    res: { status(n: number): { end(): void } },
    next: () => void,
  ) => {
    if (new URL(req.url ?? '/', 'http://x').searchParams.get('token') === 'secret') next();
    else res.status(403).end();
  },
);
router.ws('/items/:id', (ws, req) => {
  track(ws, 'items');
  ws.send(`item ${req.params.id}`);
  ws.on('message', ((data: Buffer | string) => {
    if (String(data) === 'ping me') ws.ping('hb');
    else if (String(data) === 'close me') ws.close(4000, 'done with item');
  }) as never);
});
app.use('/api', router);

const server = app.listen(0, '127.0.0.1', () => {});
await new Promise((resolve) => server.once('listening', resolve));
const { port } = server.address() as { port: number };
const base = `ws://127.0.0.1:${port}`;
const result: Record<string, unknown> = {
  aliased: aliased(require.resolve('express-ws')),
  serverIsOurs: getWss() instanceof ours.WebSocketServer,
};

result.health = await (await fetch(`http://127.0.0.1:${port}/health`)).json();

// Refused by verifyClient: 401 in the upgrade.
result.refused = await client(`${base}/echo`, { headers: { 'x-block': '1' } }).opened.then(
  () => 'opened',
  (err: { status?: number }) => err.status,
);

// Echo with permessage-deflate: text, binary, a large message, 50 in order.
const echo = client(`${base}/echo`);
await echo.opened;
result.extension = echo.ws.extensions.split(';')[0];
await echo.got.until(1);
echo.ws.send('héllo');
echo.ws.send(Buffer.from([9, 8, 7]));
echo.ws.send(Buffer.alloc(2 * 1024 * 1024, 3));
for (let i = 0; i < 50; i++) echo.ws.send(`n${i}`);
await echo.got.until(54);
result.echo = echo.got.messages.slice(0, 4);
result.echoOrder = echo.got.messages.slice(4).join() === Array.from({ length: 50 }, (_, i) => `n${i}`).join();
echo.ws.close(1000, 'bye');
result.echoClose = await echo.closed;

// Route params and a broadcast to one room.
const x1 = client(`${base}/chat/x`);
await x1.got.until(1);
const x2 = client(`${base}/chat/x`);
await x2.got.until(1);
const y1 = client(`${base}/chat/y`);
await y1.got.until(1);
x2.ws.send('hello x');
y1.ws.send('hello y');
await Promise.all([x1.got.until(2), x2.got.until(2), y1.got.until(2)]);
result.rooms = [x1.got.messages, x2.got.messages, y1.got.messages];

// A router's middleware: allowed with the token, closed (1005) without it; a path nobody routes is closed too.
const item = client(`${base}/api/items/42?token=secret`);
await item.got.until(1);
const pinged = new Promise<string>((resolve) => item.ws.once('ping', (data: Buffer) => resolve(String(data))));
item.ws.send('ping me');
result.ping = await pinged;
item.ws.send('close me');
result.item = { messages: item.got.messages, close: await item.closed };
result.forbidden = await client(`${base}/api/items/42`).closed;
result.unrouted = await client(`${base}/nowhere`).closed;

// Shutdown: every client closed by the server with 1001, the server closed.
const wss = getWss() as unknown as { clients: Set<Socket>; close(cb: () => void): void };
for (const ws of wss.clients) ws.close(1001, 'shutdown');
result.shutdown = await Promise.all([x1.closed, x2.closed, y1.closed]);
await Promise.all(serverClosed);
await new Promise<void>((resolve) => wss.close(() => resolve()));
await new Promise<void>((resolve) => server.close(() => resolve()));
result.serverCloses = serverCloses.sort();
result.clientsLeft = wss.clients.size;
report(result);

/**
 * A koa 3 + koa-websocket 7 app, run by koa-websocket.test.ts with `ws` as installed or aliased to ws-stream/ws.
 * koa-websocket makes `new ws.Server({ server, ...wsOptions })` when the app listens and runs its own koa-compose
 * middleware chain on each connection, with a koa context made from the upgrade request (`ctx.websocket` is the
 * socket). Its clients are the real ws. The flow: a plain koa route beside the WebSocket middleware, verifyClient's
 * refusal in the upgrade, a subprotocol chosen by handleProtocols, an async auth middleware that closes with 4001 or
 * passes `ctx.state` on, an echo (text, binary, 1 MiB with permessage-deflate, 100 in order), a broadcast through
 * `app.ws.server.clients`, a middleware that throws after upgrading (koa-websocket swallows it; the socket lives on
 * until the server ends it), and shutdown: 1001 to every client. Prints what the clients and the server saw.
 */
import type { IncomingMessage, Server } from 'node:http';
import { createRequire } from 'node:module';
import { aliased, client, closed, collect, ours, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of koa and koa-websocket. */
interface Socket {
  readyState: number;
  protocol: string;
  send(data: unknown, options?: { binary?: boolean }): void;
  close(code?: number, reason?: string): void;
  on(event: string, f: (...args: never[]) => void): void;
}
interface Context {
  path: string;
  query: Record<string, string>;
  state: Record<string, unknown>;
  websocket: Socket;
  body?: unknown;
  ip: string;
  cookies: { get(name: string): string | undefined };
}
type Middleware = (ctx: Context, next: () => Promise<void>) => unknown;
interface KoaApp {
  use(m: Middleware): KoaApp;
  listen(port: number, host: string): Server;
  ws: { use(m: Middleware): void; server: { clients: Set<Socket> } };
}
const Koa = require('koa') as new () => KoaApp;
const websockify = require('koa-websocket') as (app: KoaApp, wsOptions?: object) => KoaApp;

const app = websockify(new Koa(), {
  perMessageDeflate: true,
  verifyClient: (info: { req: IncomingMessage }) => info.req.headers['x-banned'] === undefined,
  handleProtocols: (protocols: Set<string>) => (protocols.has('chat.v2') ? 'chat.v2' : false),
});

app.use(async (ctx) => {
  ctx.body = { path: ctx.path, via: 'koa' };
});

const serverCloses: string[] = [];
const serverClosed: Promise<void>[] = [];
const errors: string[] = [];

// First middleware: tracks the socket's close, then an async token check (as a lookup would be).
app.ws.use(async (ctx, next) => {
  const route = ctx.path;
  serverClosed.push(
    new Promise((resolve) =>
      ctx.websocket.on('close', ((code: number, reason: Buffer) => {
        serverCloses.push(`${route}:${code}:${String(reason)}`);
        resolve();
      }) as never),
    ),
  );
  const user = await Promise.resolve(ctx.query.token === 'secret' ? 'ada' : undefined);
  if (!user) return ctx.websocket.close(4001, 'unauthorized');
  ctx.state.user = user;
  await next();
});

app.ws.use(async (ctx, next) => {
  const ws = ctx.websocket;
  if (ctx.path === '/echo') {
    ws.on('message', ((data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary })) as never);
    // What koa reads from the upgrade request: the peer's address, a cookie.
    ws.send(
      `hello ${ctx.state.user} over ${ws.protocol || 'no protocol'} from ${ctx.ip} (${ctx.cookies.get('theme')})`,
    );
  } else if (ctx.path === '/chat') {
    ws.on('message', ((data: Buffer) => {
      for (const other of app.ws.server.clients) if (other.readyState === 1) other.send(`${ctx.state.user}: ${data}`);
    }) as never);
    ws.send('joined');
  } else {
    await next();
  }
});

// Last: a handler that fails after the upgrade (koa-websocket catches the rejection and logs it under debug).
app.ws.use(async (ctx) => {
  ctx.websocket.on('error', ((err: Error) => errors.push(err.message)) as never);
  ctx.websocket.send('about to fail');
  throw new Error(`no route ${ctx.path}`);
});

const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const { port } = server.address() as { port: number };
const base = `ws://127.0.0.1:${port}`;
const result: Record<string, unknown> = {
  aliased: aliased(require.resolve('koa-websocket')),
  serverIsOurs: app.ws.server instanceof ours.WebSocketServer,
};

result.http = await (await fetch(`http://127.0.0.1:${port}/plain`)).json();

result.refused = await client(`${base}/echo?token=secret`, { headers: { 'x-banned': '1' } }).opened.then(
  () => 'opened',
  (err: { status?: number }) => err.status,
);

const stranger = client(`${base}/echo`);
await stranger.opened;
result.noToken = { messages: stranger.got.messages, close: await stranger.closed };

// The echo, with a subprotocol chosen by handleProtocols (the real ws takes protocols as its second argument).
const echoWs = new RealWebSocket(`${base}/echo?token=secret`, ['chat.v1', 'chat.v2'], {
  perMessageDeflate: true,
  headers: { cookie: 'theme=dark; other=1' },
});
const echo = { ws: echoWs, got: collect(echoWs), closed: closed(echoWs) };
await echo.got.until(1);
result.protocol = echo.ws.protocol;
result.extension = echo.ws.extensions.split(';')[0];
echo.ws.send('héllo');
echo.ws.send(Buffer.from([1, 2, 3]));
echo.ws.send(Buffer.alloc(1024 * 1024, 7));
for (let i = 0; i < 100; i++) echo.ws.send(`m${i}`);
await echo.got.until(104);
result.echo = echo.got.messages.slice(0, 4);
result.echoInOrder = echo.got.messages.slice(4).join() === Array.from({ length: 100 }, (_, i) => `m${i}`).join();
echo.ws.close(1000, 'enough');
result.echoClose = await echo.closed;

// A broadcast through app.ws.server.clients, to both chat clients.
const a = client(`${base}/chat?token=secret`);
await a.got.until(1);
const b = client(`${base}/chat?token=secret`);
await b.got.until(1);
a.ws.send('hi all');
await Promise.all([a.got.until(2), b.got.until(2)]);
result.chat = [a.got.messages, b.got.messages];

// A middleware that throws after the upgrade: the socket stays open and usable (nothing answers it).
const failing = client(`${base}/nowhere?token=secret`);
await failing.got.until(1);
failing.ws.send('anyone?');
const pinged = new Promise<string>((resolve) => failing.ws.once('pong', (data: Buffer) => resolve(String(data))));
failing.ws.ping('still there');
result.afterThrow = { messages: failing.got.messages, pong: await pinged };

// Shutdown: the server ends every client with 1001, then stops.
for (const ws of app.ws.server.clients) ws.close(1001, 'shutdown');
result.shutdown = await Promise.all([a.closed, b.closed, failing.closed]);
await Promise.all(serverClosed);
result.serverCloses = serverCloses.sort();
result.serverErrors = errors;
result.clientsLeft = app.ws.server.clients.size;
await new Promise((resolve) => server.close(resolve));
report(result);

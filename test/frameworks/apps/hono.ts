/**
 * A hono 4 app on @hono/node-server with @hono/node-ws (which imports ws's WebSocketServer itself, with `noServer`),
 * run by hono.test.ts with `ws` as installed or aliased to ws-stream/ws. Its clients are `ws`'s WebSocket (so the
 * engine under test on both sides) and hono's own typed client (`hc(...).$ws()`, given the same class through its
 * `webSocket` option). Written as hono's docs show: `createNodeWebSocket({ app })`, `upgradeWebSocket(c => events)`,
 * `injectWebSocket(server)`. Prints what the clients and the server's handlers saw.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import { hc } from 'hono/client';
import type { WSContext } from 'hono/ws';
import WebSocket from 'ws';
import { aliased, type Collected, closed, collect, ours, report } from './peer.js';

const require = createRequire(import.meta.url);
const app = new Hono();
const { injectWebSocket, upgradeWebSocket, wss } = createNodeWebSocket({ app });

/** What the server's handlers saw, per route, in order. */
const serverSaw: string[] = [];
/** Resolves when the server's onClose has run `count` times. */
let serverClosesWanted: { count: number; resolve: () => void } | undefined;
let serverCloses = 0;
function serverClosed(count: number): Promise<void> {
  return serverCloses >= count
    ? Promise.resolve()
    : new Promise((resolve) => (serverClosesWanted = { count, resolve }));
}
function onClose(route: string) {
  return (event: CloseEvent) => {
    serverSaw.push(`${route} close ${event.code} ${event.reason}`);
    serverCloses++;
    if (serverClosesWanted && serverCloses >= serverClosesWanted.count) serverClosesWanted.resolve();
  };
}

const room = new Set<WSContext>();
const routes = app
  .get(
    '/echo',
    upgradeWebSocket(() => ({
      onOpen(_event, ws) {
        serverSaw.push(`echo open ${ws.protocol || '-'} ${ws.readyState}`);
      },
      onMessage(event, ws) {
        const data = event.data;
        if (typeof data === 'string') {
          serverSaw.push(`echo text ${data}`);
          if (data === 'close me') ws.close(4001, 'server bye');
          else ws.send(data);
        } else {
          const bytes = new Uint8Array(data as ArrayBuffer);
          serverSaw.push(`echo binary ${bytes.length} ${data instanceof ArrayBuffer}`);
          ws.send(bytes);
        }
      },
      onClose: onClose('echo'),
    })),
  )
  .get(
    '/room',
    upgradeWebSocket(() => ({
      onOpen(_event, ws) {
        room.add(ws);
        ws.send(`members ${room.size}`);
      },
      onMessage(event, ws) {
        for (const other of room) if (other !== ws) other.send(`room: ${event.data}`);
      },
      onClose(event, ws) {
        room.delete(ws);
        onClose('room')(event);
      },
    })),
  )
  // A route that refuses the upgrade: a middleware answers before upgradeWebSocket runs.
  .get(
    '/private',
    async (c, next) => (c.req.header('authorization') === 'Bearer ok' ? next() : c.text('no', 401)),
    upgradeWebSocket(() => ({
      onOpen(_event, ws) {
        ws.send('welcome');
      },
      onClose: onClose('private'),
    })),
  )
  .get('/health', (c) => c.json({ ok: true }));

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
injectWebSocket(server);
if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
const { port } = server.address() as AddressInfo;
const base = `ws://127.0.0.1:${port}`;

const result: Record<string, unknown> = {
  aliased: aliased(require.resolve('@hono/node-ws')),
  serverIsOurs: wss instanceof ours.WebSocketServer,
  clientIsOurs: WebSocket === (ours.default as unknown),
  health: await (await fetch(`http://127.0.0.1:${port}/health`)).json(),
};

/**
 * Opens a client of `ws`, collecting its messages from the first (which may come with the 101); resolves when it is
 * open, rejects with the status of a refused upgrade.
 */
function open(
  path: string,
  options: WebSocket.ClientOptions = {},
  protocols?: string[],
): Promise<{ ws: WebSocket; got: Collected }> {
  const ws = new WebSocket(`${base}${path}`, protocols, options);
  const got = collect(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, got }));
    ws.once('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error('refused'), { status: res.statusCode })),
    );
    ws.once('error', reject);
  });
}
const status = (p: Promise<unknown>) =>
  p.then(
    () => 'opened',
    (err: { status?: number }) => err.status,
  );

// Refused upgrades: the middleware's 401, and a route that does not exist (hono's 404).
result.refused = [await status(open('/private')), await status(open('/nowhere'))];
const { ws: allowed, got: allowedGot } = await open('/private', { headers: { authorization: 'Bearer ok' } });
result.allowed = await allowedGot.until(1);

// Echo: the subprotocol, text, binary, 1 MiB, sent at once on open (hono buffers what arrives before its handlers),
// then a client close with a code and a reason.
const { ws: echo, got: echoGot } = await open('/echo', {}, ['chat', 'v2']);
echo.send('héllo');
echo.send(Buffer.from([1, 2, 3]));
echo.send(Buffer.alloc(1024 * 1024, 7));
for (let i = 0; i < 20; i++) echo.send(`n${i}`);
await echoGot.until(23);
result.echoProtocol = echo.protocol;
result.echo = echoGot.messages.slice(0, 3);
result.echoOrder = echoGot.messages.slice(3).join() === Array.from({ length: 20 }, (_, i) => `n${i}`).join();
const echoClosed = closed(echo);
echo.close(4000, 'client bye');
result.echoClose = await echoClosed;
await serverClosed(1);

// The server closes: ws.close(code, reason) from onMessage.
const { ws: closing } = await open('/echo');
const closingClosed = closed(closing);
closing.send('close me');
result.serverClose = await closingClosed;
await serverClosed(2);

// Without a close code (1005), and a client that drops the TCP connection (1006).
const { ws: quiet } = await open('/echo');
const quietClosed = closed(quiet);
quiet.close();
result.noCode = await quietClosed;
await serverClosed(3);
const { ws: dropped } = await open('/echo');
dropped.terminate();
await serverClosed(4);

// Several clients in one room, each message broadcast to the others.
const members: WebSocket[] = [];
const memberGot: Collected[] = [];
for (let i = 0; i < 3; i++) {
  const { ws: m, got } = await open('/room');
  memberGot.push(got);
  members.push(m);
  await memberGot[i].until(1);
}
members[0].send('from 0');
await Promise.all([memberGot[1].until(2), memberGot[2].until(2)]);
members[2].send('from 2');
await Promise.all([memberGot[0].until(2), memberGot[1].until(3)]);
result.room = memberGot.map((g) => g.messages);

// hono's typed client, in the browser's style (addEventListener, MessageEvent, binaryType 'arraybuffer').
const typed = hc<typeof routes>(`http://127.0.0.1:${port}`, {
  webSocket: (...args) => new WebSocket(...(args as [string])) as unknown as globalThis.WebSocket,
});
const browser = typed.echo.$ws();
browser.binaryType = 'arraybuffer';
result.typedClient = await new Promise<unknown[]>((resolve) => {
  const events: unknown[] = [];
  browser.addEventListener('open', () => {
    events.push(['open', browser.readyState]);
    browser.send('typed');
    browser.send(new Uint8Array([250, 251]));
  });
  browser.addEventListener('message', (e) => {
    events.push(e.data instanceof ArrayBuffer ? ['binary', [...new Uint8Array(e.data)]] : ['text', e.data]);
    if (events.length === 3) browser.close(4002, 'typed bye');
  });
  browser.addEventListener('close', (e) => {
    events.push(['close', e.code, e.reason, e.wasClean]);
    resolve(events);
  });
});
await serverClosed(5);

// Shutdown: the server closes every connection it still has (1001) and stops.
const roomClosed = members.map((m) => closed(m));
const allowedClosed = closed(allowed);
for (const ws of wss.clients) ws.close(1001, 'shutdown');
result.shutdown = await Promise.all([...roomClosed, allowedClosed]);
await serverClosed(9);
await new Promise<void>((resolve) => wss.close(() => resolve()));
await new Promise<void>((resolve) => server.close(() => resolve()));
result.serverSaw = serverSaw;
result.clientsLeft = wss.clients.size;
report(result);

/**
 * An express 5 app with tinyws 1 (which imports `WebSocketServer` from `ws`), run by tinyws.test.ts with `ws` as
 * installed or aliased to ws-stream/ws. tinyws makes a `noServer` WebSocketServer from the options it is given (its
 * own `paths` option left in them), takes every 'upgrade' of the HTTP server, hands the request to the app with a
 * ServerResponse assigned to the upgrade's socket, and gives the request a `req.ws()` that runs `handleUpgrade` and
 * emits 'connection' itself. So a route may answer an upgrade with plain HTTP (a refusal, express's 404) or take it.
 * The flow, with the real ws as the clients: a plain GET, an upgrade refused by a middleware (401 and its body), an
 * upgrade outside `paths` (express's 404), one taken with the subprotocol handleProtocols picks and permessage-deflate
 * (threshold 0), an echo (text, binary), a server ping with its callback and the client's pong, a message over
 * maxPayload (1009 and the server's error code), a broadcast through `wss.clients`, `terminate()` (1006 on the
 * client), and shutdown. Prints what the clients and the server saw.
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { WebSocket } from 'ws';
import { aliased, client, ours, queue, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of express and tinyws. */
interface Request extends IncomingMessage {
  ws?: () => Promise<WebSocket>;
  query: Record<string, string>;
}
interface Response {
  status(code: number): Response;
  send(body: string): void;
  json(body: unknown): void;
}
type Handler = (req: Request, res: Response, next: () => void) => unknown;
interface ExpressApp {
  (req: IncomingMessage, res: unknown): void;
  use(path: string, h: Handler): void;
  get(path: string, h: Handler): void;
  listen(port: number, host: string, cb: () => void): import('node:http').Server;
}
const express = require('express') as () => ExpressApp;
const { tinyws } = (await import('tinyws')) as typeof import('tinyws');

const app = express();
const serverSaw: string[] = [];
const serverCloses = queue<string>();
const track = (ws: WebSocket, route: string) => {
  ws.on('error', (err: Error & { code?: string }) => serverSaw.push(`${route} error ${err.code} ${err.message}`));
  ws.on('close', (code: number, reason: Buffer) => serverCloses.push(`${route} ${code} ${String(reason)}`));
};

app.get('/plain', (_req, res) => res.json({ via: 'express' }));

// Only upgrades get `req.ws`; this one is refused with a plain HTTP answer on the upgrade's socket.
app.use('/ws', (req, res, next) => {
  if (req.ws && req.query.token !== 'secret') return res.status(401).send('no token');
  next();
});
app.use('/ws', async (req, res) => {
  if (!req.ws) return res.send('Hello from HTTP!');
  const ws = await req.ws();
  track(ws, '/ws');
  ws.send(JSON.stringify({ protocol: ws.protocol, extensions: ws.extensions, clients: wss.clients.size }));
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const text = isBinary ? '' : String(data);
    if (text === 'ping me')
      ws.ping('beat', undefined, (err?: Error | null) => ws.send(`ping sent (${err === null ? 'null' : err})`));
    else if (text === 'drop') ws.terminate();
    else ws.send(data, { binary: isBinary });
  });
});
app.use('/chat', async (req) => {
  if (!req.ws) return;
  const ws = await req.ws();
  track(ws, '/chat');
  ws.on('message', (data: Buffer) => {
    for (const other of wss.clients) if (other !== ws && other.readyState === ws.OPEN) other.send(`chat: ${data}`);
  });
  ws.send('joined');
});

const server = await new Promise<import('node:http').Server>((resolve) => {
  const s = app.listen(0, '127.0.0.1', () => resolve(s));
});
const wss = tinyws({ handler: app }, server, {
  paths: ['/ws', '/chat'],
  perMessageDeflate: { threshold: 0 },
  maxPayload: 64 * 1024,
  handleProtocols: (protocols: Set<string>) => (protocols.has('echo.v2') ? 'echo.v2' : false),
});
const { port } = server.address() as AddressInfo;
const base = `ws://127.0.0.1:${port}`;

const result: Record<string, unknown> = {
  aliased: aliased(require.resolve('tinyws')),
  serverIsOurs: wss instanceof ours.WebSocketServer,
};
result.http = [
  await (await fetch(`http://127.0.0.1:${port}/plain`)).json(),
  await (await fetch(`http://127.0.0.1:${port}/ws`)).text(),
];

const refusal = (url: string) =>
  client(url).opened.then(
    () => 'opened',
    (err: { status?: number; body?: string }) => `${err.status} ${err.body?.match(/no token|Cannot GET \/\w+/)?.[0]}`,
  );
result.refused = await refusal(`${base}/ws`);
result.outsidePaths = await refusal(`${base}/other?token=secret`);

const echo = client(`${base}/ws?token=secret`, { perMessageDeflate: true });
const echoWs = echo.ws;
await echo.opened;
await echo.got.until(1);
result.hello = JSON.parse(echo.got.messages[0] ?? 'null');
result.clientSide = { protocol: echoWs.protocol, extensions: echoWs.extensions };

// The subprotocol handleProtocols picks (the real ws client takes protocols as its second argument).
const chosen = new (echoWs.constructor as typeof WebSocket)(`${base}/ws?token=secret`, ['echo.v1', 'echo.v2']);
await new Promise((resolve) => chosen.once('message', resolve));
result.chosen = chosen.protocol;
chosen.close();

echoWs.send('héllo');
echoWs.send(Buffer.from([1, 2, 3]));
await echo.got.until(3);
const pinged = new Promise<string>((resolve) => echoWs.once('ping', (data: Buffer) => resolve(String(data))));
echoWs.send('ping me');
result.ping = await pinged;
await echo.got.until(4);
result.echo = echo.got.messages.slice(1);

// Over maxPayload (64 KiB, counted after inflating): the server fails the connection with 1009.
echoWs.send(Buffer.alloc(100 * 1024, 1));
result.tooBig = await echo.closed;

const a = client(`${base}/chat`);
const b = client(`${base}/chat`);
await Promise.all([a.got.until(1), b.got.until(1)]);
a.ws.send('hi');
await b.got.until(2);
result.chat = [a.got.messages, b.got.messages];

// terminate(): no closing handshake, the client sees 1006.
const dropped = client(`${base}/ws?token=secret`);
await dropped.got.until(1);
dropped.ws.send('drop');
result.terminated = await dropped.closed;

const closes: string[] = [];
for (let i = 0; i < 3; i++) closes.push(await serverCloses.next());
for (const ws of wss.clients) ws.close(1001, 'going away');
result.shutdown = await Promise.all([a.closed, b.closed]);
for (let i = 0; i < 2; i++) closes.push(await serverCloses.next());
result.serverCloses = closes.sort();
result.serverSaw = serverSaw;
result.clientsLeft = wss.clients.size;
wss.close();
await new Promise((resolve) => server.close(resolve));
report(result);

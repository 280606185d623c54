/**
 * @walletconnect/jsonrpc-ws-connection 1.0 (WalletConnect's JSON-RPC transport, also used by its relayer), run by
 * walletconnect.test.ts with `ws` as installed or aliased to ws-stream/ws. With no global WebSocket (Node 20) it does
 * `require('ws')` (its own ws 7) and makes `new WebSocket(url, [], { rejectUnauthorized: !isLocalhost })`: an empty
 * protocol list and a TLS option, then ws's EventEmitter `on('error')` beside the `onopen`/`onmessage`/`onclose`
 * properties. Against a JSON-RPC server written here on the real ws over TLS with a self-signed certificate, the flow:
 * `wss://localhost` connects (certificate not checked), `wss://127.0.0.1` fails on it (the package's
 * 'register_error'), requests and a 1 MiB response, a server notification, `close()`, a server's 4000 close, a send
 * after it reconnecting on its own, and an upgrade answered 403. Prints what the package's user and the server saw.
 */
import { readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { dirname } from 'node:path';
import { WsConnection } from '@walletconnect/jsonrpc-ws-connection';
import { selfSigned } from '../../support/tls-cert.js';
import { aliased, queue, RealWebSocket, report } from './peer.js';

const require = createRequire(import.meta.url);
const { cert, key } = selfSigned();
const httpsServer = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) });
rmSync(dirname(cert), { recursive: true });

/** The JSON-RPC server: echoes, sums, a large result, a notification, and a close on request. */
const serverSaw: string[] = [];
const serverClosed = queue<string>();
const wss = new RealWebSocket.WebSocketServer({
  server: httpsServer,
  verifyClient: (info: { req: import('node:http').IncomingMessage }, done: (ok: boolean, code?: number) => void) =>
    info.req.url === '/forbidden' ? done(false, 403) : done(true),
});
wss.on('connection', (ws, req) => {
  serverSaw.push(`connect protocol=${JSON.stringify(req.headers['sec-websocket-protocol'] ?? null)}`);
  ws.on('message', (data: Buffer, isBinary) => {
    const m = JSON.parse(String(data)) as { id: number; method: string; params: unknown[] };
    serverSaw.push(`${isBinary ? 'binary' : 'text'} ${m.method}`);
    const reply = (result: unknown) => ws.send(JSON.stringify({ id: m.id, jsonrpc: '2.0', result }));
    if (m.method === 'sum') reply((m.params as number[]).reduce((a, b) => a + b, 0));
    else if (m.method === 'large') reply('z'.repeat(1024 * 1024));
    else if (m.method === 'subscribe') {
      reply('sub1');
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notify', params: { subscription: 'sub1', data: 'hi' } }));
    } else if (m.method === 'bye') ws.close(4000, 'bye');
    else ws.send(JSON.stringify({ id: m.id, jsonrpc: '2.0', error: { code: -32601, message: 'Method not found' } }));
  });
  ws.on('close', (code, reason) => serverClosed.push(`${code}${reason.length ? ` ${reason}` : ''}`));
});
await new Promise<void>((resolve) => httpsServer.listen(0, 'localhost', resolve));
const port = (httpsServer.address() as net.AddressInfo).port;

const result: Record<string, unknown> = {
  aliased: aliased(require.resolve('@walletconnect/jsonrpc-ws-connection')),
};
const short = (payload: { result?: unknown; error?: unknown; method?: string; params?: unknown }) =>
  JSON.stringify(
    typeof payload.result === 'string' && payload.result.length > 100
      ? { ...payload, result: `text:${payload.result.length}` }
      : payload,
  );

// 127.0.0.1 is not localhost to the package: the certificate is checked and refused.
const checked = new WsConnection(`wss://127.0.0.1:${port}`);
const registerErrors = queue<string>();
checked.on('register_error', (err: Error) => registerErrors.push(err.message));
result.untrusted = await checked.open().then(
  () => 'opened',
  (err: Error) => err.message,
);
result.untrustedEvent = await registerErrors.next();

// An upgrade refused by verifyClient.
const refused = new WsConnection(`wss://localhost:${port}/forbidden`);
result.refused = await refused.open().then(
  () => 'opened',
  (err: Error) => err.message,
);

const conn = new WsConnection(`wss://localhost:${port}`);
const payloads = queue<string>();
const closes = queue<string>();
const events: string[] = [];
conn.on('payload', (payload: object) => payloads.push(short(payload)));
conn.on('open', () => events.push('open'));
conn.on('close', (event: { code: number; reason: string }) => {
  events.push('close');
  closes.push(`${event.code}${event.reason ? ` ${event.reason}` : ''}`);
});
await conn.open();
result.connected = conn.connected;
await conn.send({ id: 1, jsonrpc: '2.0', method: 'sum', params: [1, 2, 39] });
await conn.send({ id: 2, jsonrpc: '2.0', method: 'large', params: [] });
await conn.send({ id: 3, jsonrpc: '2.0', method: 'subscribe', params: ['news'] });
await conn.send({ id: 4, jsonrpc: '2.0', method: 'nothing', params: [] });
result.payloads = [];
for (let i = 0; i < 5; i++) (result.payloads as string[]).push(await payloads.next());

// close(): the package closes without a code.
await conn.close();
result.closed = [conn.connected, await closes.next(), await serverClosed.next()];

// Opened again; then the server closes with 4000, and a send after it reconnects on its own.
await conn.open();
await conn.send({ id: 5, jsonrpc: '2.0', method: 'bye', params: [] });
result.serverClose = [await closes.next(), conn.connected, await serverClosed.next()];
await conn.send({ id: 6, jsonrpc: '2.0', method: 'sum', params: [20, 22] });
result.afterReconnect = [conn.connected, await payloads.next()];
await conn.close();
result.lastClose = [await closes.next(), await serverClosed.next()];
result.events = events;
result.server = serverSaw;
wss.close();
await new Promise((resolve) => httpsServer.close(resolve));
report(result);

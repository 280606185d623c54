/**
 * @slack/socket-mode 2 (Bolt's Socket Mode client: `new WebSocket(url, { perMessageDeflate: false, agent })` from
 * `ws`, with addEventListener('open'/'error') beside on('message'/'close'/'ping'/'pong'), a ping every third of its
 * pong timeout, close(1000) or removeAllListeners() and terminate() to leave), run by slack.test.ts with `ws` as
 * installed or aliased to ws-stream/ws, against a local Socket Mode backend written with ws-stream/ws's own
 * WebSocketServer (the same in both runs) and the Web API method it calls first (POST /api/apps.connections.open,
 * through @slack/web-api). The backend refuses the first ticket (401: the client reports the error and reconnects with
 * a new one), greets with hello, sends an Events API envelope and a slash command (both acknowledged, one with a
 * response payload), pings, asks the client to refresh (it closes with 1000 and reconnects), drops the connection (it
 * reconnects), and sees the client's disconnect(). Prints what the app and the backend saw.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type net from 'node:net';
import { aliased, ours, queue, report } from './peer.js';

const require = createRequire(import.meta.url);

/** What this app uses of @slack/socket-mode. */
interface Envelope {
  ack(response?: object): Promise<void>;
  envelope_id: string;
  body: Record<string, unknown>;
  event?: Record<string, unknown>;
  accepts_response_payload: boolean;
}
interface SocketModeClient {
  websocket?: { websocket: unknown };
  start(): Promise<unknown>;
  disconnect(): Promise<void>;
  on(event: string, f: (arg: never) => void): void;
}
const { SocketModeClient } = require('@slack/socket-mode') as {
  SocketModeClient: new (options: object) => SocketModeClient;
};
const result: Record<string, unknown> = { aliased: aliased(require.resolve('@slack/socket-mode')) };

const APP_TOKEN = 'xapp-1-test';

// The backend: apps.connections.open hands out ws URLs with a new ticket each; ticket 1 is refused at the upgrade.
let tickets = 0;
const opens: string[] = [];
const httpServer = http.createServer((req, res) => {
  opens.push(`${req.method} ${req.url} ${req.headers.authorization}`);
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ ok: true, url: `ws://${base}/link/?ticket=${++tickets}&app_id=A1` }));
});
interface Connection {
  ticket: string | null;
  send(message: object): void;
  ping(data: string): void;
  /** The next message the client sent (parsed). */
  next(): Promise<unknown>;
  /** The next pong's data. */
  pong(): Promise<string>;
  /** The first of the client's pings' data. */
  clientPing: Promise<string>;
  closed: Promise<[number, string]>;
  terminate(): void;
}
const backend = new ours.WebSocketServer({
  server: httpServer,
  verifyClient: (info: { req: http.IncomingMessage }, callback: (ok: boolean, code?: number) => void) =>
    callback(!String(info.req.url).includes('ticket=1&'), 401),
});
const connections = queue<Connection>();
backend.on('connection', (ws, req) => {
  const messages = queue<unknown>();
  const pongs = queue<string>();
  ws.on('message', (data: Buffer) => messages.push(JSON.parse(String(data))));
  ws.on('pong', (data: Buffer) => pongs.push(String(data)));
  const clientPing = new Promise<string>((resolve) => ws.once('ping', (data: Buffer) => resolve(String(data))));
  const closed = new Promise<[number, string]>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve([code, String(reason)])),
  );
  connections.push({
    ticket: new URL(req.url ?? '', 'http://x').searchParams.get('ticket'),
    send: (message) => ws.send(JSON.stringify(message)),
    ping: (data) => ws.ping(data),
    next: messages.next,
    pong: pongs.next,
    clientPing,
    closed,
    terminate: () => ws.terminate(),
  });
  ws.send(JSON.stringify({ type: 'hello', num_connections: 1, connection_info: { app_id: 'A1' } }));
});
await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
const base = `127.0.0.1:${(httpServer.address() as net.AddressInfo).port}`;

// The app. A 1 s pong timeout: a ping every 333 ms, a reconnect 1 s after a close.
const client = new SocketModeClient({
  appToken: APP_TOKEN,
  clientPingTimeout: 1000,
  logLevel: 'error',
  logger: { debug() {}, info() {}, warn() {}, error() {}, setLevel() {}, getLevel: () => 'error', setName() {} },
  clientOptions: { slackApiUrl: `http://${base}/api/` },
});
const states: string[] = [];
for (const state of ['connecting', 'authenticated', 'connected', 'reconnecting', 'disconnecting', 'disconnected']) {
  client.on(state, () => states.push(state));
}
const connected = queue<string>();
client.on('connected', () => connected.push('connected'));
client.on('error', (err: Error & { code?: string; original?: Error }) =>
  states.push(`error ${err.code} ${err.original?.message}`),
);
const envelopes = queue<[string, Envelope]>();
client.on('app_mention', (e: Envelope) => envelopes.push(['app_mention', e]));
client.on('slash_commands', (e: Envelope) => envelopes.push(['slash_commands', e]));

// The first ticket is refused: the app reports it, gets a new URL and connects.
await client.start();
await connected.next();
const c1 = await connections.next();
result.start = { opens: [...opens], ticket: c1.ticket, states: [...states] };
result.clientIsOurs = client.websocket?.websocket instanceof ours.WebSocket;

// An Events API envelope and a slash command, acknowledged (the second with a response payload).
c1.send({
  type: 'events_api',
  envelope_id: 'e1',
  accepts_response_payload: false,
  retry_attempt: 0,
  retry_reason: '',
  payload: { type: 'event_callback', event: { type: 'app_mention', text: '<@U1> héllo' } },
});
const [type1, mention] = await envelopes.next();
await mention.ack();
c1.send({
  type: 'slash_commands',
  envelope_id: 'e2',
  accepts_response_payload: true,
  payload: { command: '/deploy', text: 'now' },
});
const [type2, command] = await envelopes.next();
await command.ack({ text: 'deploying' });
result.envelopes = [
  [type1, mention.envelope_id, mention.event, mention.accepts_response_payload, await c1.next()],
  [type2, command.envelope_id, command.body, command.accepts_response_payload, await c1.next()],
];

// Pings both ways: the client answers the backend's, and pings on its own.
c1.ping('backend');
result.pings = [await c1.pong(), (await c1.clientPing).startsWith('Ping from client (')];

// A refresh: the client closes with 1000, then reconnects with a new ticket.
states.length = 0;
c1.send({ type: 'disconnect', reason: 'refresh_requested' });
const refreshClosed = await c1.closed;
const c2 = await connections.next();
await connected.next();
result.refresh = { closed: refreshClosed, ticket: c2.ticket, states: [...states] };

// The connection drops: the client reconnects.
states.length = 0;
c2.terminate();
const c3 = await connections.next();
await connected.next();
result.dropped = { ticket: c3.ticket, states: [...states] };

// disconnect(): a close with 1000, no reconnection.
states.length = 0;
await client.disconnect();
result.disconnected = { closed: await c3.closed, states: [...states], opens: opens.length };
backend.close();
await new Promise((resolve) => httpServer.close(resolve));
report(result);

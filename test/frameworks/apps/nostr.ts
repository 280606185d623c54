/**
 * nostr-tools 2 (Nostr's reference client library), run by nostr.test.ts with `ws` as installed or aliased to
 * ws-stream/ws: its `Relay` is given ws's class by `useWebSocketImplementation`, as its docs tell Node users. It uses
 * the `onopen`/`onmessage`/`onclose`/`onerror` properties and, finding `ping` and `once` on the socket, ws's own
 * heartbeat: `ws.ping()` and `once('pong')`, closing the socket when no pong comes. Against a small relay written here
 * on the real ws (NIP-01: EVENT/OK, REQ/EOSE with stored and live events, CLOSE, NOTICE; pongs answered by hand, so
 * that the relay can stop answering), the flow: events signed and published, one refused, a subscription getting
 * stored events, EOSE and a live event, a forged event reported invalid, a notice, pings answered, then a relay that
 * stops answering them (the client closes and reconnects, resubscribing from its last event), and `close()`. Prints
 * what the client's user and the relay saw.
 */
import http from 'node:http';
import type net from 'node:net';
import { finalizeEvent, type NostrEvent } from 'nostr-tools/pure';
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import { WebSocket } from 'ws';
import { ours, queue, RealWebSocket, report } from './peer.js';

useWebSocketImplementation(WebSocket);

/** The relay: every event kept; subscriptions by kind and `since`. */
interface Filter {
  kinds?: number[];
  since?: number;
}
const stored: NostrEvent[] = [];
const subscriptions = new Map<string, { ws: import('ws').WebSocket; filters: Filter[] }>();
const relaySaw: string[] = [];
const relayClosed = queue<string>();
const connections = queue<import('ws').WebSocket>();
const pinged = queue<string>();
const requested = queue<number>();
let answerPings = true;
const matches = (filters: Filter[], e: NostrEvent) =>
  filters.some((f) => (!f.kinds || f.kinds.includes(e.kind)) && (f.since === undefined || e.created_at >= f.since));
const server = http.createServer();
const wss = new RealWebSocket.WebSocketServer({ server, autoPong: false });
let connectionCount = 0;
wss.on('connection', (ws) => {
  const n = ++connectionCount;
  let pings = 0;
  connections.push(ws);
  ws.on('ping', (data) => {
    if (++pings === 1) pinged.push(`connection ${n}`);
    if (answerPings) ws.pong(data);
  });
  const send = (message: unknown[]) => ws.send(JSON.stringify(message));
  ws.on('message', (data: Buffer) => {
    const [type, ...rest] = JSON.parse(String(data)) as [string, ...unknown[]];
    if (type === 'EVENT') {
      const event = rest[0] as NostrEvent;
      relaySaw.push(`${n} EVENT kind ${event.kind}`);
      if (event.content.includes('spam')) return send(['OK', event.id, false, 'blocked: no spam here']);
      stored.push(event);
      send(['OK', event.id, true, '']);
      for (const [id, sub] of subscriptions)
        if (matches(sub.filters, event)) sub.ws.send(JSON.stringify(['EVENT', id, event]));
    } else if (type === 'REQ') {
      const [id, ...filters] = rest as [string, ...Filter[]];
      relaySaw.push(`${n} REQ ${id} ${JSON.stringify(filters)}`);
      requested.push(n);
      subscriptions.set(id, { ws, filters });
      for (const event of stored) if (matches(filters, event)) send(['EVENT', id, event]);
      send(['EOSE', id]);
    } else if (type === 'CLOSE') {
      relaySaw.push(`${n} CLOSE ${rest[0]}`);
      subscriptions.delete(rest[0] as string);
    }
  });
  ws.on('close', (code) => {
    for (const [id, sub] of subscriptions) if (sub.ws === ws) subscriptions.delete(id);
    relayClosed.push(`${n} ${code}`);
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`;

const result: Record<string, unknown> = {};
const secretKey = Uint8Array.from(Buffer.from('7f'.repeat(32), 'hex'));
const note = (content: string, n: number, kind = 1) =>
  finalizeEvent({ kind, created_at: 1_700_000_000 + n, tags: [], content }, secretKey);

const relay = new Relay(url, { enablePing: true, enableReconnect: true });
// The package's timings, shortened (public fields): a ping every 1.6 s, a pong awaited 1.5 s, a reconnection at once.
// (A ping's wait outlives its socket: with more than one ping waiting when the relay goes quiet, each late timeout
// would close the next socket too, on either engine.)
relay.pingFrequency = 1600;
relay.pingTimeout = 1500;
relay.resubscribeBackoff = [0];
const notices = queue<string>();
relay.onnotice = (message) => notices.push(message);
await relay.connect();
const first = await connections.next();
result.socketIsOurs = (relay as unknown as { ws: unknown }).ws instanceof ours.WebSocket;

// Publish: accepted (OK true), and refused with the relay's reason.
result.published = [
  await relay.publish(note('hello nostr', 1)),
  await relay.publish(note(`a large one: ${'x'.repeat(512 * 1024)}`, 2)),
];
result.refused = await relay.publish(note('buy spam', 3)).then(
  () => 'accepted',
  (err: Error) => err.message,
);

// A subscription: the stored events, EOSE, then a live one; a forged event (content changed after signing) is invalid.
const events = queue<string>();
const invalid = queue<string>();
const eose = queue<string>();
const summary = (e: NostrEvent) =>
  `${e.kind} ${e.created_at - 1_700_000_000} ${e.content.length > 100 ? `text:${e.content.length}` : e.content}`;
const sub = relay.subscribe([{ kinds: [1] }], {
  onevent: (e) => events.push(summary(e)),
  oninvalidevent: (e) => invalid.push(summary(e as NostrEvent)),
  oneose: () => eose.push('eose'),
});
await requested.next();
result.stored = [await events.next(), await events.next(), await eose.next()];
await relay.publish(note('live', 4));
result.live = await events.next();
first.send(JSON.stringify(['EVENT', sub.id, { ...note('signed', 5), content: 'forged' }]));
result.invalid = await invalid.next();
first.send(JSON.stringify(['NOTICE', 'rate limit soon']));
result.notice = await notices.next();

// Pings: answered; then not: the client closes the socket after its timeout, reconnects at once, and subscribes again
// from its last event.
result.pinged = await pinged.next();
answerPings = false;
result.noPong = await relayClosed.next();
answerPings = true;
await connections.next();
result.resubscribed = await requested.next();
result.connected = relay.connected;
await relay.publish(note('after the reconnection', 6));
result.afterReconnect = await events.next();

// close(): the subscription is closed, and the socket, without a code.
const closedSub = new Promise<string>((resolve) => {
  sub.onclose = (reason) => resolve(reason);
});
relay.close();
result.close = [await closedSub, await relayClosed.next(), relay.connected];
result.relay = relaySaw;
wss.close();
await new Promise((resolve) => server.close(resolve));
report(result);
// The package's pending pong wait (a timer) outlives close().
process.exit(0);

/**
 * Hocuspocus 3 (a Yjs collaboration backend) as its docs show it: `new Server({ port, onAuthenticate })` (its server
 * does `import { WebSocketServer } from 'ws'`: ws as installed, ws-stream/ws under the alias) and HocuspocusProviders
 * given a WebSocket class as `WebSocketPolyfill` (ws's or ws-stream/ws's, as PROVIDERS says). Run by
 * hocuspocus.test.ts. Prints what the providers and the server saw.
 */
import { HocuspocusProvider, type HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { Server } from '@hocuspocus/server';
import type WebSocket from 'ws';
import * as Y from 'yjs';
import { ours, RealWebSocket, report } from './peer.js';

// The providers' engine: PROVIDERS names it (the server's is the alias's).
const ClientWebSocket = (process.env.PROVIDERS === 'ws-stream/ws' ? ours.WebSocket : RealWebSocket) as typeof WebSocket;

const result: Record<string, unknown> = {};
const server = new Server({
  port: 0,
  address: '127.0.0.1',
  quiet: true,
  stopOnSignals: false,
  async onAuthenticate({ token }: { token: string }) {
    if (token !== 'secret') throw new Error('bad token');
    return { user: 'ok' };
  },
});
await server.listen();
const { port } = server.httpServer.address() as { port: number };
const url = `ws://127.0.0.1:${port}`;
result.serverIsOurs = server.webSocketServer instanceof ours.WebSocketServer;

/** Resolves once `check()` holds, re-checked after each `event` of `emitter`. */
function until(
  emitter: { on(e: string, f: () => void): unknown; off(e: string, f: () => void): unknown },
  event: string,
  check: () => boolean,
): Promise<void> {
  return new Promise((resolve) => {
    if (check()) return resolve();
    const f = () => {
      if (!check()) return;
      emitter.off(event, f);
      resolve();
    };
    emitter.on(event, f);
  });
}

// Reconnects quickly: its default waits a second or more between attempts.
const socketOptions = { WebSocketPolyfill: ClientWebSocket, delay: 20, minDelay: 20, maxDelay: 100, jitter: false };
function provider(document: Y.Doc, token: string): HocuspocusProvider {
  return new HocuspocusProvider({ url, name: 'doc', document, token, ...socketOptions });
}
const socketOf = (p: HocuspocusProvider) =>
  (p.configuration.websocketProvider as HocuspocusProviderWebsocket).webSocket as unknown as WebSocket;
const synced = (p: HocuspocusProvider) => until(p, 'synced', () => p.isSynced);

const docA = new Y.Doc();
const docB = new Y.Doc();
const a = provider(docA, 'secret');
const b = provider(docB, 'secret');
await Promise.all([synced(a), synced(b)]);
result.clientIsOurs = socketOf(a) instanceof ours.WebSocket;

// Concurrent edits on both sides converge; a 200 KB insert arrives whole.
docA.getText('t').insert(0, 'hello ');
docB.getText('t').insert(0, 'world');
docB.getArray('list').push([1, 2, 3]);
const both = (d: Y.Doc) => d.getText('t').length === 11 && d.getArray('list').length === 3;
await Promise.all([until(docA, 'update', () => both(docA)), until(docB, 'update', () => both(docB))]);
result.converged = JSON.stringify(docA.toJSON()) === JSON.stringify(docB.toJSON());
result.text = ['hello world', 'worldhello '].includes(docA.getText('t').toString());
const long = 'é✓'.repeat(100_000);
docA.getText('long').insert(0, long);
await until(docB, 'update', () => docB.getText('long').length === long.length);
result.long = docB.getText('long').toString() === long;

// Awareness: each provider's field reaches the other.
const seen = (p: HocuspocusProvider, id: number, name: string) =>
  until(p.awareness as never, 'change', () => {
    const s = p.awareness?.getStates().get(id) as { user?: { name: string } } | undefined;
    return s?.user?.name === name;
  });
a.setAwarenessField('user', { name: 'alice' });
b.setAwarenessField('user', { name: 'bob' });
await Promise.all([seen(b, docA.clientID, 'alice'), seen(a, docB.clientID, 'bob')]);
result.awareness = true;

// onAuthenticate refuses a bad token: the provider is told why, and the document stays unsynced.
const docC = new Y.Doc();
result.refused = await new Promise((resolve) => {
  const c = new HocuspocusProvider({
    url,
    name: 'doc',
    document: docC,
    token: 'wrong',
    ...socketOptions,
    onAuthenticationFailed: ({ reason }: { reason: string }) => {
      resolve({ reason, synced: c.isSynced, text: docC.getText('t').length });
      c.destroy();
    },
  });
});

/** The code and reason of the provider's next 'close'. */
const closes = (p: HocuspocusProvider) =>
  new Promise<{ code: number; reason: string }>((resolve) => {
    const f = ({ event }: { event: { code: number; reason: string } }) => {
      p.off('close', f);
      resolve({ code: event.code, reason: String(event.reason) });
    };
    p.on('close', f);
  });

// The server closes every connection with a code and a reason (as an app going down for maintenance would, through
// the WebSocketServer Hocuspocus exposes): both providers see the close, reconnect by themselves and sync; an edit
// made by B meanwhile reaches A. (Hocuspocus' own closeConnections() only sends a protocol message on the open socket.)
let closeA = closes(a);
for (const ws of server.webSocketServer.clients) ws.close(4001, 'maintenance');
result.closed = await closeA;
docB.getText('t').insert(0, '>');
await until(docA, 'update', () => docA.getText('t').toString().startsWith('>'));
await Promise.all([synced(a), synced(b)]);

// The server drops every connection without a close frame (terminate): A sees 1006, both reconnect, and an edit B made
// meanwhile reaches A.
closeA = closes(a);
const first = socketOf(a);
const dropped = [...server.webSocketServer.clients];
for (const ws of dropped) ws.terminate();
result.dropped = (await closeA).code;
docB.getText('t').insert(0, '#');
await until(docA, 'update', () => docA.getText('t').toString().startsWith('#>'));
result.reconnected = socketOf(a) !== first && JSON.stringify(docA.toJSON()) === JSON.stringify(docB.toJSON());

a.destroy();
b.destroy();
await server.destroy();
report(result);

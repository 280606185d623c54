/**
 * Yjs 13 collaborative editing over y-websocket 2: its server code (`y-websocket/bin/utils`' setupWSConnection, wired
 * as its bin/server.cjs does, with noServer and handleUpgrade; it sets binaryType 'arraybuffer', sends with a callback,
 * pings and closes) on a WebSocketServer, and its WebsocketProvider clients (onopen/onmessage/onclose, ArrayBuffer
 * messages) with `WebSocketPolyfill` set to a WebSocket class. Every pairing of engines (server × clients, ws and ws-
 * stream/ws): two documents converge after concurrent edits on both sides (and a 200 KB insert), awareness states reach
 * the other client, and a client whose connection the server terminates sees 1006, reconnects by itself and catches up
 * with edits made meanwhile.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { IncomingMessage } from 'node:http';
import type * as YType from 'yjs';
import type * as YWebsocket from 'y-websocket';
import { engines, listen, closeServer } from './engines.js';

// All of it through CommonJS, as y-websocket's server is: one Yjs instance for server and clients.
const require = createRequire(import.meta.url);
const Y = require('yjs') as typeof YType;
const { WebsocketProvider } = require('y-websocket') as typeof YWebsocket;
const utils = require('y-websocket/bin/utils') as {
  setupWSConnection(conn: unknown, req: IncomingMessage, opts?: { docName?: string }): void;
  docs: Map<string, YType.Doc>;
};
type Provider = InstanceType<typeof WebsocketProvider>;

/** Resolves once `check()` holds, re-checked after each of the emitter's `event`s. */
function until(
  emitter: { on(e: string, f: () => void): void; off(e: string, f: () => void): void },
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

const synced = (p: Provider) => until(p, 'sync', () => p.synced);
const status = (p: Provider, want: string) =>
  new Promise<void>((resolve) => {
    const f = ({ status: s }: { status: string }) => {
      if (s !== want) return;
      p.off('status', f);
      resolve();
    };
    p.on('status', f);
  });

for (const server of engines) {
  for (const clients of engines) {
    describe(`y-websocket server on ${server.name}, providers on ${clients.name}`, () => {
      it('documents converge, awareness, a reconnect after the server terminates a client', async (t) => {
        const { server: httpServer, port } = await listen();
        // As y-websocket's bin/server.cjs does: noServer, handleUpgrade, and 'connection' emitted by hand.
        const wss = new server.WebSocketServer({ noServer: true });
        const conns: { terminate(): void; protocol: string }[] = [];
        wss.on('connection', (conn) => conns.push(conn));
        wss.on('connection', utils.setupWSConnection);
        httpServer.on('upgrade', (request, socket, head) =>
          wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request)),
        );
        const room = `room-${server.name}-${clients.name}`.replace(/\W/g, '-');
        const docA = new Y.Doc();
        const docB = new Y.Doc();
        const options = { WebSocketPolyfill: clients.WebSocket as never, disableBc: true, maxBackoffTime: 100 };
        const a = new WebsocketProvider(`ws://127.0.0.1:${port}`, room, docA, options);
        t.after(async () => {
          a.destroy();
          b?.destroy();
          docA.destroy();
          docB.destroy();
          utils.docs.get(room)?.destroy();
          utils.docs.delete(room);
          for (const ws of wss.clients) ws.terminate();
          await new Promise<void>((resolve) => wss.close(() => resolve()));
          await closeServer(httpServer);
        });
        await synced(a);
        let b: Provider | undefined = new WebsocketProvider(`ws://127.0.0.1:${port}`, room, docB, options);
        await synced(b);
        assert.equal(conns.length, 2);
        assert.ok(a.ws instanceof clients.WebSocket, "the provider's WebSocket is the polyfill's");
        assert.ok(conns[0] instanceof server.WebSocket, "the server's connections are its engine's");

        // Concurrent edits on both sides, before either has seen the other's: both end with the same content.
        docA.getText('t').insert(0, 'hello ');
        docA.getMap('m').set('from', 'a');
        docB.getText('t').insert(0, 'world');
        docB.getArray('list').push([1, 2, 3]);
        const both = (d: YType.Doc) =>
          d.getText('t').length === 11 && d.getMap('m').get('from') === 'a' && d.getArray('list').length === 3;
        await Promise.all([until(docA, 'update', () => both(docA)), until(docB, 'update', () => both(docB))]);
        assert.deepEqual(docA.toJSON(), docB.toJSON());
        assert.ok(['hello world', 'worldhello '].includes(docA.getText('t').toString()), docA.getText('t').toString());
        assert.deepEqual(docB.getArray('list').toJSON(), [1, 2, 3]);

        // A 200 KB insert (one update message) reaches the other side intact.
        const long = 'é✓'.repeat(100_000);
        docB.getText('long').insert(0, long);
        await until(docA, 'update', () => docA.getText('long').length === long.length);
        assert.equal(docA.getText('long').toString(), long);

        // Awareness: each client's local state reaches the other through the server.
        a.awareness.setLocalStateField('user', { name: 'alice' });
        b.awareness.setLocalStateField('user', { name: 'bob' });
        const seen = (p: Provider, id: number, name: string) =>
          until(p.awareness as never, 'change', () => {
            const s = p.awareness.getStates().get(id) as { user?: { name: string } } | undefined;
            return s?.user?.name === name;
          });
        await Promise.all([seen(b, docA.clientID, 'alice'), seen(a, docB.clientID, 'bob')]);

        // The server terminates A's connection: A sees 1006, B sees A's awareness removed; B edits meanwhile; A
        // reconnects by itself (its own backoff), syncs, and has B's edit; new awareness states flow both ways again.
        const closeCodes: number[] = [];
        a.on('connection-close', (event: { code: number } | null) => closeCodes.push(event?.code ?? -1));
        const aDown = status(a, 'disconnected');
        const aUp = status(a, 'connected');
        const aLeft = until(b.awareness as never, 'change', () => !b?.awareness.getStates().has(docA.clientID));
        conns[0].terminate();
        await aDown;
        await aLeft;
        docB.getText('t').insert(0, '>');
        await aUp;
        await synced(a);
        await until(docA, 'update', () => docA.getText('t').toString().startsWith('>'));
        assert.deepEqual(docA.toJSON(), docB.toJSON());
        assert.deepEqual(closeCodes, [1006]);
        // A state re-sent on reconnect with the clock the server has already seen is ignored (y-protocols does so, on
        // either engine): new states go through.
        a.awareness.setLocalStateField('user', { name: 'alice again' });
        b.awareness.setLocalStateField('user', { name: 'bob again' });
        await Promise.all([seen(b, docA.clientID, 'alice again'), seen(a, docB.clientID, 'bob again')]);
        assert.equal(conns.length, 3);

        // B leaves (its provider closes its WebSocket): A sees B's awareness go.
        const bLeft = until(a.awareness as never, 'change', () => !a.awareness.getStates().has(docB.clientID));
        b.destroy();
        b = undefined;
        await bLeft;
      });
    });
  }
}

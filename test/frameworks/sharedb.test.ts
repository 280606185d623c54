/**
 * ShareDB 7 (operational transformation) over @teamwork/websocket-json-stream 2, as their READMEs wire them: the
 * engine's WebSocketServer hands each socket to `backend.listen(new WebSocketJSONStream(ws))`, and two
 * `ShareDB.Connection`s each take one of the engine's client WebSockets (in the browser's style: onopen, onmessage,
 * onclose). Neither package requires ws, so the engines are injected (engines.ts). Both must show the same: a doc
 * created by one client, ops from both seen by the other (json0: numbers, a string insert of 200 KB, a list
 * insert), concurrent ops converging, a fetch on a fresh query, a client's `close()` (the server's socket sees 1005,
 * a connection 'disconnected'), and the server ending a stream (`stream.end()`: the client sees 1000 'stream end' and its
 * connection goes 'disconnected').
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { closeServer, engines, listen, nextEvent } from './engines.js';

const require = createRequire(import.meta.url);

// What this test uses of ShareDB and the stream (they ship no types).
type Callback = (err?: Error | null) => void;
interface Doc {
  data: Record<string, unknown>;
  version: number;
  create(data: unknown, cb: Callback): void;
  subscribe(cb: Callback): void;
  submitOp(op: unknown[], cb: Callback): void;
  on(event: 'op', f: (op: unknown[], source: boolean) => void): void;
}
interface Connection {
  state: string;
  get(collection: string, id: string): Doc;
  createFetchQuery(
    collection: string,
    query: object,
    options: object,
    cb: (err: Error | null, docs: Doc[]) => void,
  ): void;
  on(event: 'state', f: (state: string) => void): void;
  close(): void;
}
const ShareDB = require('sharedb') as {
  new (): {
    listen(stream: Duplex): unknown;
    connect(): Connection;
    close(cb: Callback): void;
    on(e: string, f: (...a: never[]) => void): void;
  };
};
// The browser side, as ShareDB's README has it: require('sharedb/lib/client').
const ShareDBClient = require('sharedb/lib/client') as { Connection: new (socket: unknown) => Connection };
const WebSocketJSONStream = require('@teamwork/websocket-json-stream') as new (ws: unknown) => Duplex;

const done = (f: (cb: Callback) => void) =>
  new Promise<void>((resolve, reject) => f((err) => (err ? reject(err) : resolve())));

/** Resolves once `doc` has taken `count` ops from others. */
function remoteOps(doc: Doc, count: number): Promise<unknown[][]> {
  const ops: unknown[][] = [];
  return new Promise((resolve) =>
    doc.on('op', (op, source) => {
      if (source) return;
      ops.push(op);
      if (ops.length === count) resolve(ops);
    }),
  );
}

for (const engine of engines) {
  describe(`sharedb + websocket-json-stream on ${engine.name}`, () => {
    it('two clients edit one doc, see each other, converge, close and are ended', async (t) => {
      const { server, port } = await listen();
      t.after(() => closeServer(server));
      const wss = new engine.WebSocketServer({ server });
      // Upgraded sockets are not the HTTP server's to close: on a failure, end them first.
      t.after(() => {
        for (const ws of wss.clients) ws.terminate();
      });
      const backend = new ShareDB();
      const serverSockets: { closed: Promise<[number, string]>; stream: Duplex }[] = [];
      wss.on('connection', (ws) => {
        const closed = new Promise<[number, string]>((resolve) =>
          ws.on('close', (code, reason) => resolve([code, String(reason)])),
        );
        const stream = new WebSocketJSONStream(ws);
        serverSockets.push({ closed, stream });
        backend.listen(stream);
      });
      const url = `ws://127.0.0.1:${port}/sharedb`;
      // One at a time, so that serverSockets[i] is sockets[i]'s peer.
      const sockets: InstanceType<typeof engine.WebSocket>[] = [];
      const connections: Connection[] = [];
      for (let i = 0; i < 2; i++) {
        const connected = nextEvent(wss, 'connection');
        sockets.push(new engine.WebSocket(url));
        connections.push(new ShareDBClient.Connection(sockets[i]));
        await connected;
      }
      const [a, b] = connections;
      const states: string[][] = [[], []];
      a.on('state', (s) => states[0].push(s));
      b.on('state', (s) => states[1].push(s));

      const docA = a.get('notes', 'n1');
      await done((cb) => docA.create({ title: 'Notes', count: 0, items: [] }, cb));
      const docB = b.get('notes', 'n1');
      await done((cb) => docB.subscribe(cb));
      assert.deepEqual(docB.data, { title: 'Notes', count: 0, items: [] });
      await done((cb) => docA.subscribe(cb));

      // Ops from A, seen by B in order.
      const big = 'é'.repeat(100_000);
      const seenByB = remoteOps(docB, 3);
      await done((cb) => docA.submitOp([{ p: ['count'], na: 5 }], cb));
      await done((cb) => docA.submitOp([{ p: ['title', 5], si: big }], cb));
      await done((cb) => docA.submitOp([{ p: ['items', 0], li: 'first' }], cb));
      assert.deepEqual(await seenByB, [
        [{ p: ['count'], na: 5 }],
        [{ p: ['title', 5], si: big }],
        [{ p: ['items', 0], li: 'first' }],
      ]);

      // Concurrent ops on both sides: transformed, both converge to the same data and version.
      const seenByA = remoteOps(docA, 1);
      const seenByB2 = remoteOps(docB, 1);
      await Promise.all([
        done((cb) => docA.submitOp([{ p: ['items', 0], li: 'from A' }], cb)),
        done((cb) => docB.submitOp([{ p: ['items', 0], li: 'from B' }], cb)),
      ]);
      await Promise.all([seenByA, seenByB2]);
      assert.deepEqual(docA.data, docB.data);
      assert.equal(docA.version, docB.version);
      assert.equal(docA.version, 6);
      assert.deepEqual([...(docA.data.items as string[])].sort(), ['first', 'from A', 'from B']);
      assert.equal(docA.data.title, `Notes${big}`);
      assert.equal(docA.data.count, 5);

      // A query from B fetches what the backend holds.
      const fetched = await new Promise<Doc[]>((resolve, reject) =>
        b.createFetchQuery('notes', {}, {}, (err, docs) => (err ? reject(err) : resolve(docs))),
      );
      assert.deepEqual(
        fetched.map((d) => [d.version, d.data.count]),
        [[6, 5]],
      );

      // A closes: the server's socket sees no status code (1005), as ws's close() sends none; ShareDB reads the
      // CloseEvent as a reason other than 'closed': disconnected.
      const aClosed = nextEvent(a, 'state');
      a.close();
      assert.equal(await aClosed, 'disconnected');
      assert.deepEqual(await serverSockets[0].closed, [1005, '']);

      // The server ends B's stream: B's socket sees 1000 'stream end'; its connection is disconnected.
      const bSocketClosed = new Promise<[number, string]>((resolve) =>
        sockets[1].addEventListener('close', (e) => resolve([e.code, e.reason])),
      );
      const bState = nextEvent(b, 'state');
      serverSockets[1].stream.end();
      assert.deepEqual(await bSocketClosed, [1000, 'stream end']);
      assert.equal(await bState, 'disconnected');
      assert.deepEqual(await serverSockets[1].closed, [1000, 'stream end']);
      assert.deepEqual(states, [
        ['connected', 'disconnected'],
        ['connected', 'disconnected'],
      ]);
      await done((cb) => backend.close(cb));
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });
  });
}

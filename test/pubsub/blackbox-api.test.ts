/**
 * The `ws-stream/pubsub` API as README.md and doc/pubsub.md show it, with subscribers that are
 * `ws-stream/ws` WebSockets from a real `WebSocketServer` and clients from the `ws` package.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import WsClient from 'ws';
import { WebSocketServer, type WebSocket } from '../../src/compat/index.js';
import { PubSub } from '../../src/pubsub/index.js';

/** A `ws-stream/ws` server; `accepted()` resolves with the server side of the next connection. */
async function compatServer(): Promise<{ url: string; accepted(): Promise<WebSocket>; close(): Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { serverNoContextTakeover: true } });
  const ready: WebSocket[] = [];
  const waiting: ((ws: WebSocket) => void)[] = [];
  wss.on('connection', (ws: WebSocket) => {
    const w = waiting.shift();
    if (w) w(ws);
    else ready.push(ws);
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/`,
    accepted: () => {
      const ws = ready.shift();
      return ws ? Promise.resolve(ws) : new Promise((resolve) => waiting.push(resolve));
    },
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients ?? []) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

/** A `ws` client that keeps every message (data as text or Buffer, and whether binary), in order. */
async function client(url: string, perMessageDeflate = false) {
  const ws = new WsClient(url, { perMessageDeflate });
  const inbox: { data: string | Buffer; binary: boolean }[] = [];
  const waiters: (() => void)[] = [];
  let closed: number | null = null;
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  ws.on('message', (data: Buffer, binary: boolean) => {
    inbox.push({ data: binary ? data : data.toString(), binary });
    wake();
  });
  ws.on('close', (code: number) => {
    closed = code;
    wake();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    ws,
    async next() {
      while (inbox.length === 0) {
        if (closed !== null) throw new Error(`closed (${closed}) while waiting for a message`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      return inbox.shift()!;
    },
  };
}

it('subscribes ws-stream/ws WebSockets: text, binary, order, topics(), subscriberCount(), leaving on close', async (t) => {
  const server = await compatServer();
  const ps = new PubSub();
  t.after(async () => {
    await ps.close();
    await server.close();
  });
  const a = await client(server.url);
  const aws = await server.accepted();
  const b = await client(server.url, true);
  const bws = await server.accepted();
  const ra = await ps.subscribe(aws, 'news');
  assert.deepEqual(Object.keys(ra), ['offset', 'epoch']);
  const rb = await ps.subscribe(bws, 'news', { since: { offset: ra.offset, epoch: ra.epoch } });
  assert.deepEqual(rb, { ...ra, recovered: true });
  await ps.subscribe(bws, 'other');
  assert.deepEqual(ps.topics(bws).sort(), ['news', 'other']);
  assert.equal(ps.subscriberCount('news'), 2);
  const big = 'compressible '.repeat(200);
  const published = [
    await ps.publish('news', 'one'),
    await ps.publish('news', Buffer.from([0, 1, 2, 255])),
    await ps.publish('news', new Uint8Array([9, 8]), { binary: false }),
    await ps.publish('news', big),
    await ps.publish('news', big, { compress: false }),
  ];
  assert.deepEqual(
    published.map((p) => p.offset),
    [1, 2, 3, 4, 5].map((i) => ra.offset + i),
  );
  for (const p of published) assert.equal(p.epoch, ra.epoch);
  for (const c of [a, b]) {
    assert.deepEqual(await c.next(), { data: 'one', binary: false });
    assert.deepEqual(await c.next(), { data: Buffer.from([0, 1, 2, 255]), binary: true });
    assert.deepEqual(await c.next(), { data: '\t\b', binary: false });
    assert.deepEqual(await c.next(), { data: big, binary: false });
    assert.deepEqual(await c.next(), { data: big, binary: false });
  }
  // b closes: it leaves its topics by itself; a keeps receiving.
  const gone = new Promise((resolve) => bws.once('close', resolve));
  b.ws.close(1000);
  await gone;
  // whenClosed() settles in a microtask after the close event: one turn later it has left.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(ps.topics(bws), []);
  assert.equal(ps.subscriberCount('news'), 1);
  assert.equal(ps.subscriberCount('other'), 0);
  await ps.publish('news', 'after');
  assert.deepEqual(await a.next(), { data: 'after', binary: false });
  // unsubscribe stops delivery at once; a topic's count is local and exact.
  ps.unsubscribe(aws, 'news');
  assert.equal(ps.subscriberCount('news'), 0);
  await ps.publish('news', 'unheard');
  await ps.subscribe(aws, 'other');
  await ps.publish('other', 'heard');
  assert.deepEqual(await a.next(), { data: 'heard', binary: false }, 'nothing of news after unsubscribe');
  a.ws.close();
});

it('rejects a topic with a lone surrogate, for subscribe, unsubscribe and publish', async (t) => {
  const server = await compatServer();
  const ps = new PubSub();
  t.after(async () => {
    await ps.close();
    await server.close();
  });
  const a = await client(server.url);
  const aws = await server.accepted();
  const bad = { code: 'ERR_WS_INVALID_ARGUMENT', message: /surrogate/ };
  await assert.rejects(ps.subscribe(aws, 'room\ud800'), bad);
  await assert.rejects(ps.publish('\udfff', 'x'), bad);
  assert.throws(() => ps.unsubscribe(aws, 'a\udbffb'), bad);
  // A pair is one character: fine.
  await ps.subscribe(aws, 'room \ud83d\ude00');
  await ps.publish('room \ud83d\ude00', 'ok');
  assert.deepEqual(await a.next(), { data: 'ok', binary: false });
  a.ws.close();
});

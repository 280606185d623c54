/**
 * `ws-stream serve --pubsub`'s limits on one connection, with real sockets: topics per connection
 * (--max-topics, ERR_WS_TOO_MANY_TOPICS), replies a client does not read, data of every JSON type
 * (and a number no double holds), permessage-deflate from a real client (ws).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { startServer } from '../conformance/raw-client.js';
import { text } from '../support/frames.js';
import { floodUntilServerStopsReading, serverTurns } from '../support/hostile.js';
import { error, message, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';

type Server = Awaited<ReturnType<typeof startServer>>;
const MiB = 1 << 20;

describe('serve --pubsub --max-topics 3', () => {
  let server: Server;
  const clients: JsonClient[] = [];
  before(async () => {
    server = await startServer(['--pubsub', '--max-topics', '3']);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.stop();
  });
  const connect = async (): Promise<JsonClient> => {
    const c = await JsonClient.connect(server.port);
    clients.push(c);
    return c;
  };

  it('refuses a fourth topic with ERR_WS_TOO_MANY_TOPICS; the connection stays open and keeps its three', async () => {
    const c = await connect();
    for (const t of ['t1', 't2', 't3']) await subscribe(c, t);
    c.send({ op: 'subscribe', topic: 't4' });
    const e = await error(c, 'ERR_WS_TOO_MANY_TOPICS', 'a fourth topic');
    assert.match(e.message, /"t4"/);
    assert.match(e.message, /at most 3 topics/);
    // Subscribing again to one it has is no new topic; with since, too.
    const again = await subscribe(c, 't2');
    assert.equal(again.offset, 0);
    await subscribe(c, 't3', { offset: 0, epoch: again.epoch });
    // The refused topic was not subscribed: a message there does not reach it; its topics still work.
    const other = await connect();
    const watcher = await subscribe(other, 't4');
    c.send({ op: 'publish', topic: 't4', data: 'to t4' });
    assert.equal(await message(other, 't4', watcher.offset + 1), 'to t4');
    c.send({ op: 'publish', topic: 't1', data: 'to t1' });
    assert.equal(await message(c, 't1', 1), 'to t1');
    // Unsubscribing makes room.
    c.send({ op: 'unsubscribe', topic: 't1' });
    await subscribe(c, 't4');
    c.send({ op: 'subscribe', topic: 't5' });
    await error(c, 'ERR_WS_TOO_MANY_TOPICS', 'a fourth topic again');
    assert.equal(c.ended, false);
  });

  it('counts per connection: another connection has its own three', async () => {
    const a = await connect();
    const b = await connect();
    for (const t of ['x1', 'x2', 'x3']) await subscribe(a, t);
    for (const t of ['x1', 'y2', 'y3']) await subscribe(b, t);
    a.send({ op: 'subscribe', topic: 'y2' });
    await error(a, 'ERR_WS_TOO_MANY_TOPICS', 'a past its cap');
    b.send({ op: 'subscribe', topic: 'x2' });
    await error(b, 'ERR_WS_TOO_MANY_TOPICS', 'b past its cap');
  });

  it('a connection that closed leaves room: a new one subscribes to as many again', async () => {
    const a = await connect();
    for (const t of ['z1', 'z2', 'z3']) await subscribe(a, t);
    a.close();
    const b = await connect();
    for (const t of ['z1', 'z2', 'z3']) await subscribe(b, t);
  });
});

describe('serve --pubsub (default limits)', () => {
  let server: Server;
  before(async () => {
    server = await startServer(['--pubsub']);
  });
  after(() => server.stop());

  it('takes 1,000 topics per connection by default and refuses the 1,001st', async () => {
    const c = await JsonClient.connect(server.port);
    try {
      // Sent in one go: the server acts on them in order, answering each before reading the next.
      for (let i = 0; i < 1001; i++) c.send({ op: 'subscribe', topic: `many-${i}` });
      for (let i = 0; i < 1000; i++) {
        const r = await c.next(`subscribed ${i}`);
        assert.equal(r.op, 'subscribed', JSON.stringify(r));
        assert.equal(r.topic, `many-${i}`);
      }
      const e = await error(c, 'ERR_WS_TOO_MANY_TOPICS', 'topic 1,001');
      assert.match(e.message, /"many-1000"/);
      assert.match(e.message, /at most 1000 topics/);
    } finally {
      c.close();
    }
  });

  it('a client that sends requests and never reads their replies stops being read; it gets every reply once it reads', async () => {
    const c = await JsonClient.connect(server.port);
    const turns = await serverTurns(server.port);
    try {
      c.sock.pause();
      // Each request is answered with an error op twice its size (the unknown op is quoted whole
      // up to 64 characters).
      const op = 'o'.repeat(64);
      const batch = 256;
      const requests = Buffer.concat(Array.from({ length: batch }, () => text(JSON.stringify({ op }))));
      // Written as the kernel takes them until the server has stopped reading this connection (its
      // replies back up) while it answers pings on another; one that never stops takes all 64 MiB.
      const flood = await floodUntilServerStopsReading(c.sock as net.Socket, requests, turns, 64 * MiB);
      const sent = (flood.written / requests.length) * batch;
      assert.ok(flood.stopped, `the server kept reading: ${sent} requests went out and were taken`);
      // Another client meanwhile is served.
      const other = await JsonClient.connect(server.port);
      await subscribe(other, 'meanwhile');
      other.close();
      // Once it reads, every request is answered, in order, none lost.
      c.sock.resume();
      for (let i = 0; i < sent; i++) {
        const e = await c.next(`reply ${i}`);
        assert.equal(e.op, 'error');
        // (not assert.equal: a failure would print every reply's test)
        assert.ok(e.message === `unknown op ${JSON.stringify(op)}`, `reply ${i}: ${String(e.message).slice(0, 80)}`);
      }
      assert.equal(c.ended, false);
    } finally {
      c.close();
      turns.close();
    }
  });

  it('a value nested 100,000 deep in any field of a request gets an error op; the server lives on', async () => {
    const c = await JsonClient.connect(server.port);
    try {
      const deepArray = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
      const deepObject = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
      const cases: [string, RegExp][] = [
        [`{"op":${deepArray}}`, /unknown op \(an array\)/],
        [`{"op":${deepObject}}`, /unknown op \(an object\)/],
        [`{"op":"subscribe","topic":${deepArray}}`, /topic/],
        [`{"op":"unsubscribe","topic":${deepObject}}`, /topic/],
        [`{"op":"subscribe","topic":"deep","since":${deepArray}}`, /since/],
        [`{"op":"subscribe","topic":"deep","since":{"offset":1,"epoch":${deepObject}}}`, /since/],
        [`{"op":"publish","topic":"deep","data":${deepArray}}`, /nested too deeply/],
        [`{"op":"publish","topic":"deep","data":1,"extra":${deepObject}}`, /./],
      ];
      for (const [request, message] of cases) {
        c.sock.write(text(request));
        if (request.includes('"extra"')) {
          // An unknown field is ignored: this publish is delivered (checked below).
          continue;
        }
        const e = await error(c, 'ERR_WS_INVALID_ARGUMENT', request.slice(0, 40));
        assert.match(e.message, message, request.slice(0, 40));
      }
      const s = await subscribe(c, 'deep');
      assert.equal(s.offset, 1, 'only the publish with an extra field took an offset');
      assert.equal(server.proc.exitCode, null);
    } finally {
      c.close();
    }
  });

  it('delivers data of every JSON type as published; a number no double holds is refused, not turned into null', async () => {
    const c = await JsonClient.connect(server.port);
    try {
      await subscribe(c, 'types');
      const raw = [
        '0',
        '1.5e300',
        '1e-400',
        '123456789012',
        '"\\u0000\\ud83d\\ude00 \\"quoted\\""',
        'true',
        'false',
        'null',
        '[]',
        '{}',
        '{"__proto__":{"polluted":true},"constructor":1}',
        '[[[[[[[[[[1]]]]]]]]]]',
        '"1e400"',
        '{"1e400":"\\"2e999"}',
        `1${'0'.repeat(308)}`,
        `0.${'0'.repeat(400)}1`,
        '-1.7976931348623157e308',
        `"${'x'.repeat(1000)}"`,
      ];
      let offset = 0;
      for (const data of raw) {
        c.sock.write(text(`{"op":"publish","topic":"types","data":${data}}`));
        assert.deepEqual(await message(c, 'types', ++offset), JSON.parse(data), data);
      }
      // -0 is the JSON number 0 (written again by JSON.stringify).
      c.sock.write(text('{"op":"publish","topic":"types","data":-0}'));
      assert.ok(Object.is(await message(c, 'types', ++offset), 0));
      assert.equal(Object.getPrototypeOf({}).polluted, undefined);
      for (const data of ['1e400', '-1E+400', `1${'0'.repeat(400)}`, '[1, {"a": 2e308}]']) {
        c.sock.write(text(`{"op":"publish","topic":"types","data":${data}}`));
        const e = await error(c, 'ERR_WS_INVALID_ARGUMENT', data.slice(0, 20));
        assert.match(e.message, /too large for a double/);
      }
      // Nothing of the refused ones took an offset.
      c.send({ op: 'publish', topic: 'types', data: 'last' });
      assert.equal(await message(c, 'types', offset + 1), 'last');
    } finally {
      c.close();
    }
  });
});

describe('permessage-deflate from a real client (ws)', () => {
  const servers: Server[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('serve --deflate echoes text and binary of every size, compressed both ways', async () => {
    const server = await startServer(['--deflate']);
    servers.push(server);
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: { threshold: 0 } });
    await once(ws, 'open');
    assert.match(ws.extensions, /^permessage-deflate/);
    const inbox: [Buffer, boolean][] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (d: Buffer, isBinary: boolean) => {
      inbox.push([d, isBinary]);
      waiters.shift()?.();
    });
    const next = async (): Promise<[Buffer, boolean]> => {
      while (inbox.length === 0) await new Promise<void>((r) => waiters.push(r));
      return inbox.shift()!;
    };
    const seed = 0x5eed;
    let x = seed;
    const randomBytes = (n: number): Buffer => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        b[i] = x >>> 24;
      }
      return b;
    };
    const cases: [string | Buffer, boolean][] = [
      ['', false],
      ['a', false],
      ['héllo ✓ '.repeat(1000), false],
      [Buffer.alloc(0), true],
      [randomBytes(70_000), true],
      [Buffer.alloc(1024 * 1024, 7), true],
      ['z'.repeat(2 * 1024 * 1024), false],
    ];
    for (const [data, binary] of cases) ws.send(data, { binary });
    for (const [data, binary] of cases) {
      const [got, isBinary] = await next();
      assert.equal(isBinary, binary, `seed ${seed}`);
      assert.ok(got.equals(Buffer.from(data)), `seed ${seed}: ${got.length} bytes back for ${data.length}`);
    }
    const closed = once(ws, 'close');
    ws.close(1000, 'done');
    assert.equal(((await closed) as [number])[0], 1000);
  });

  it('a ws client offering deflate to a server without --deflate gets no extension and is served', async () => {
    const server = await startServer([]);
    servers.push(server);
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: true });
    await once(ws, 'open');
    assert.equal(ws.extensions, '');
    const reply = once(ws, 'message');
    ws.send('plain');
    assert.equal(((await reply) as [Buffer])[0].toString(), 'plain');
    ws.close();
    await once(ws, 'close');
  });

  it('serve --pubsub --deflate: ws clients with and without deflate get the same messages', async () => {
    const server = await startServer(['--pubsub', '--deflate']);
    servers.push(server);
    const agreed = new Map<WebSocket, string | undefined>();
    const open = async (perMessageDeflate: boolean): Promise<WebSocket> => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate });
      ws.once('upgrade', (res) => agreed.set(ws, res.headers['sec-websocket-extensions']));
      await once(ws, 'open');
      const reply = once(ws, 'message');
      ws.send(JSON.stringify({ op: 'subscribe', topic: 'z' }));
      assert.equal(JSON.parse(((await reply) as [Buffer])[0].toString()).op, 'subscribed');
      return ws;
    };
    const deflating = await open(true);
    const plain = await open(false);
    assert.match(String(agreed.get(deflating)), /^permessage-deflate; server_no_context_takeover/);
    assert.equal(agreed.get(plain), undefined);
    const data = { text: 'compress me '.repeat(500), n: 1 };
    const got = [once(deflating, 'message'), once(plain, 'message')];
    plain.send(JSON.stringify({ op: 'publish', topic: 'z', data }));
    for (const g of got) {
      const m = JSON.parse(((await g) as [Buffer])[0].toString());
      assert.deepEqual(m, { op: 'message', topic: 'z', data, offset: 1 });
    }
    for (const ws of [deflating, plain]) {
      ws.close();
      await once(ws, 'close');
    }
  });
});

/**
 * PubSub with the in-memory broker, over real sockets: order and exactly-once, a frame made once
 * and shared (the same Buffer handed to every subscriber's socket), compression once, recovery,
 * slow subscribers, closed streams, and typed errors for bad arguments.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { type ReceivedData, type WebSocketError, WebSocketStream, connect } from '../../src/index.js';
import { MemoryBroker, PubSub } from '../../src/pubsub/index.js';
import { RawClient } from '../conformance/raw-client.js';
import { closeFrame, text } from '../support/frames.js';
import { once, startTestServer, subscriberPair } from './pubsub-support.js';
import { random } from '../support/random.js';

const server = await startTestServer({ perMessageDeflate: true });
after(() => server.close());

/** The next `n` data messages a client receives, as text. */
async function texts(c: RawClient, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const m = await c.nextMessage();
    if (m.opcode === 1 || m.opcode === 2) out.push(m.payload.toString());
  }
  return out;
}

describe('PubSub over the memory broker', () => {
  it('every subscriber receives every message of a topic once, in publish order (random sizes from a seed)', async (t) => {
    const seed = Date.now() >>> 0;
    console.log(`seed ${seed}`);
    const rnd = random(seed);
    const ps = new PubSub();
    t.after(() => ps.close());
    const subs = [await subscriberPair(server), await subscriberPair(server), await subscriberPair(server)];
    for (const s of subs)
      assert.deepEqual(await ps.subscribe(s.ws, 'news'), { offset: 0, epoch: (ps.broker as MemoryBroker).epoch });
    await ps.subscribe(subs[0]!.ws, 'other');
    assert.equal(ps.subscriberCount('news'), 3);
    assert.deepEqual(ps.topics(subs[0]!.ws).sort(), ['news', 'other']);
    const sent: string[] = [];
    const positions = [];
    for (let i = 0; i < 300; i++) {
      const body = `${i}:${'x'.repeat(Math.floor(rnd() * (rnd() < 0.1 ? 70000 : 300)))}`;
      sent.push(body);
      positions.push(ps.publish('news', body));
      if (i % 50 === 0) void ps.publish('other', `other ${i}`);
    }
    const offsets = (await Promise.all(positions)).map((p) => p.offset);
    assert.deepEqual(
      offsets,
      sent.map((_, i) => i + 1),
    );
    for (const s of subs.slice(1)) assert.deepEqual(await texts(s.client, 300), sent);
    const first = await texts(subs[0]!.client, 306);
    assert.deepEqual(
      first.filter((m) => !m.startsWith('other')),
      sent,
    );
    assert.deepEqual(
      first.filter((m) => m.startsWith('other')),
      [0, 50, 100, 150, 200, 250].map((i) => `other ${i}`),
    );
    for (const s of subs) s.client.destroy();
  });

  it('frames a message once: the same Buffer (header + payload, unmasked) is written to every subscriber', async (t) => {
    const ps = new PubSub();
    t.after(() => ps.close());
    const subs = [
      await subscriberPair(server),
      await subscriberPair(server),
      await subscriberPair(server),
      await subscriberPair(server),
    ];
    for (const s of subs) await ps.subscribe(s.ws, 'once');
    await new Promise((r) => setImmediate(r));
    for (const s of subs) s.layer.written.length = 0;
    const payload = 'a'.repeat(300);
    await ps.publish('once', payload, { binary: true });
    for (const s of subs) assert.deepEqual(await s.client.nextMessage(), { opcode: 2, payload: Buffer.from(payload) });
    const frames = subs.map((s) => s.layer.written.find((b) => b.length === 304)!);
    assert.ok(frames[0], 'the frame went out as one buffer');
    assert.deepEqual([...frames[0]!.subarray(0, 4)], [0x82, 126, 1, 44]);
    for (const f of frames) assert.equal(f, frames[0], 'the same Buffer object for every subscriber');
    for (const s of subs) s.client.destroy();
  });

  it('batches per turn: messages published in one turn reach each subscriber in one write', async (t) => {
    const ps = new PubSub();
    t.after(() => ps.close());
    const subs = [await subscriberPair(server), await subscriberPair(server)];
    for (const s of subs) await ps.subscribe(s.ws, 'batch');
    await new Promise((r) => setImmediate(r));
    for (const s of subs) s.layer.written.length = 0;
    const sent = Array.from({ length: 10 }, (_, i) => `message ${i}`);
    for (const m of sent) void ps.publish('batch', m);
    for (const s of subs) assert.deepEqual(await texts(s.client, 10), sent);
    for (const s of subs) {
      assert.equal(s.layer.written.length, 1, 'one write');
      assert.equal(
        s.layer.written[0]!.length,
        sent.reduce((n, m) => n + 2 + m.length, 0),
      );
    }
    for (const s of subs) s.client.destroy();
  });

  it("batches per loop turn: messages read from several publishers' sockets in one poll phase reach each subscriber in one write", async (t) => {
    const ps = new PubSub();
    t.after(() => ps.close());
    const subs = [await subscriberPair(server), await subscriberPair(server)];
    const pubs = [await subscriberPair(server), await subscriberPair(server), await subscriberPair(server)];
    for (const s of subs) await ps.subscribe(s.ws, 'poll');
    // Each publisher's stream publishes every message it reads, as a pub/sub server does.
    for (const p of pubs) {
      const onMessage = (err: WebSocketError | null, m?: ReceivedData): void => {
        if (err) return;
        void ps.publish('poll', m!.data, { binary: m!.binary });
        p.ws.read(onMessage);
      };
      p.ws.read(onMessage);
    }
    await new Promise((r) => setImmediate(r));
    for (const s of subs) s.layer.written.length = 0;
    // Loopback TCP hands the bytes over within each send: the next poll finds all three sockets readable.
    for (const [i, p] of pubs.entries()) p.client.send(text(`from ${i}`));
    const got = await Promise.all(subs.map((s) => texts(s.client, 3)));
    assert.deepEqual([...got[0]!].sort(), ['from 0', 'from 1', 'from 2']);
    assert.deepEqual(got[1], got[0], 'the same order for every subscriber');
    for (const s of subs) assert.equal(s.layer.written.length, 1, 'one write for the three reads');
    for (const c of [...subs, ...pubs]) c.client.destroy();
  });

  it("a turn's messages of a topic are one Buffer, the same for every subscriber (one copy per turn, not per stream)", async (t) => {
    const ps = new PubSub();
    t.after(() => ps.close());
    const subs = [await subscriberPair(server), await subscriberPair(server), await subscriberPair(server)];
    for (const s of subs) await ps.subscribe(s.ws, 'shared');
    await new Promise((r) => setImmediate(r));
    for (const s of subs) s.layer.written.length = 0;
    const sent = ['one', 'two', 'three'];
    for (const m of sent) void ps.publish('shared', m);
    for (const s of subs) assert.deepEqual(await texts(s.client, 3), sent);
    const first = subs[0]!.layer.written;
    assert.equal(first.length, 1);
    assert.deepEqual(first[0], Buffer.from('\x81\x03one\x81\x03two\x81\x05three', 'latin1'));
    for (const s of subs) assert.equal(s.layer.written[0], first[0], 'the same Buffer object');
    for (const s of subs) s.client.destroy();
  });

  it("what a turn publishes keeps its place before the subscriber's own writes, ping and close that follow", async (t) => {
    const ps = new PubSub();
    t.after(() => ps.close());
    const a = await subscriberPair(server);
    await ps.subscribe(a.ws, 'order');
    await ps.subscribe(a.ws, 'other');
    await new Promise((r) => setImmediate(r));
    void ps.publish('order', 'p1');
    void ps.publish('order', 'p2');
    void a.ws.write('own 1');
    void ps.publish('other', 'o1'); // another topic between two runs of the first
    void ps.publish('order', 'p3');
    void a.ws.ping('ping');
    void ps.publish('order', 'p4');
    void a.ws.write('own 2');
    void ps.publish('order', 'p5');
    ps.unsubscribe(a.ws, 'order'); // published before it left: still delivered
    void ps.publish('order', 'after leaving');
    void ps.publish('other', 'o2');
    void a.ws.close({ code: 1000 });
    const { code, before } = await a.client.expectClose({ answer: true });
    assert.equal(code, 1000);
    assert.deepEqual(
      before.map((f) => (f.opcode === 9 ? `ping:${f.payload}` : f.payload.toString())),
      ['p1', 'p2', 'own 1', 'o1', 'p3', 'ping:ping', 'p4', 'own 2', 'p5', 'o2'],
    );
    a.client.destroy();
  });

  it('at the end of a turn, a run waits behind a message being written in parts or being compressed (plain sockets)', async (t) => {
    // Over node:net sockets as they are (not the recording layer), where a run is written at once
    // when nothing else is pending on the stream.
    const accepted: WebSocketStream[] = [];
    const waiting: ((ws: WebSocketStream) => void)[] = [];
    const http2 = http.createServer();
    http2.on('upgrade', (req, socket: Duplex, head: Buffer) => {
      const ws = new WebSocketStream(socket, { perMessageDeflate: true });
      ws.accept(req, { head }).then(
        () => waiting.shift()?.(ws) ?? accepted.push(ws),
        () => {},
      );
    });
    await new Promise<void>((r) => http2.listen(0, '127.0.0.1', r));
    t.after(() => {
      http2.closeAllConnections();
      http2.close();
    });
    const port = (http2.address() as { port: number }).port;
    const nextServerSide = (): Promise<WebSocketStream> =>
      accepted.length > 0 ? Promise.resolve(accepted.shift()!) : new Promise((r) => waiting.push(r));
    const ps = new PubSub();
    t.after(() => ps.close());
    const client = await connect(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true });
    t.after(() => client.nextLayer.destroy());
    const ws = await nextServerSide();
    assert.match(ws.extensions, /permessage-deflate/);
    await ps.subscribe(ws, 'behind');
    await new Promise((r) => setImmediate(r));
    // A message in parts: the run published between them goes after its last part.
    void ws.writeSome('part 1, ', { fin: false, compress: false });
    await new Promise((r) => setImmediate(r)); // part 1 is out: nothing is queued at the end of the next turn
    void ps.publish('behind', 'm1');
    void ps.publish('behind', 'm2');
    await new Promise((r) => setImmediate(r));
    await ws.writeSome('part 2', { fin: true });
    // A message still in zlib: the run published after it goes after it.
    const big = 'compressible '.repeat(20000);
    void ws.write(big);
    void ps.publish('behind', 'm3');
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push(String((await client.read()).data));
    assert.deepEqual(got, ['part 1, part 2', 'm1', 'm2', big, 'm3']);
  });

  it("a 'drop' listener that throws is the application's uncaught error; other subscribers and later writes go on", async (t) => {
    const ps = new PubSub({ slowSubscriber: { maxBytes: 10, policy: 'drop' } });
    t.after(() => ps.close());
    const a = await subscriberPair(server);
    const b = await subscriberPair(server);
    await ps.subscribe(a.ws, 'throws');
    await ps.subscribe(b.ws, 'throws');
    await new Promise((r) => setImmediate(r));
    const uncaught: unknown[] = [];
    process.setUncaughtExceptionCaptureCallback((err) => uncaught.push(err));
    t.after(() => process.setUncaughtExceptionCaptureCallback(null));
    ps.on('drop', () => {
      throw new Error('listener bug');
    });
    void ps.publish('throws', 'x'.repeat(100)); // too big for both: each drop throws
    void ps.publish('other', 'nobody');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      uncaught.map((e) => (e as Error).message),
      ['listener bug', 'listener bug'],
    );
    ps.removeAllListeners('drop');
    void a.ws.write('still flowing');
    void b.ws.write('still flowing');
    await new Promise((r) => setImmediate(r));
    assert.equal(a.ws.bufferedAmount + b.ws.bufferedAmount, 0, 'flushed in the turn (not left waiting for a tick)');
    assert.deepEqual(await texts(a.client, 1), ['still flowing']);
    assert.deepEqual(await texts(b.client, 1), ['still flowing']);
    a.client.destroy();
    b.client.destroy();
  });

  it("a 'drop' listener that publishes while a turn is handed out: its message follows, for every subscriber, nothing lost", async (t) => {
    const ps = new PubSub({ slowSubscriber: { maxBytes: 1000, policy: 'drop' } });
    t.after(() => ps.close());
    const full = await subscriberPair(server);
    const s2 = await subscriberPair(server);
    const s3 = await subscriberPair(server);
    for (const s of [full, s2, s3]) await ps.subscribe(s.ws, 'news');
    await ps.subscribe(s3.ws, 'alerts');
    await new Promise((r) => setImmediate(r));
    ps.on('drop', (e) => void ps.publish('news', `notice: ${e.bytes} dropped`));
    void full.ws.write('y'.repeat(900)); // queued in this turn: p1 does not fit behind it
    void s2.ws.write('reply');
    void ps.publish('news', `p1 ${'z'.repeat(200)}`);
    assert.deepEqual(await texts(full.client, 2), ['y'.repeat(900), 'notice: 207 dropped']);
    assert.deepEqual(await texts(s2.client, 3), ['reply', `p1 ${'z'.repeat(200)}`, 'notice: 207 dropped']);
    assert.deepEqual(await texts(s3.client, 2), [`p1 ${'z'.repeat(200)}`, 'notice: 207 dropped']);
    // The same from the end of a turn (nothing written after the publish): the notice is not left waiting.
    ps.removeAllListeners('drop');
    ps.once('drop', () => void ps.publish('alerts', 'alert'));
    void full.ws.write('y'.repeat(900));
    void ps.publish('news', `p2 ${'z'.repeat(200)}`);
    assert.deepEqual(await texts(s3.client, 2), [`p2 ${'z'.repeat(200)}`, 'alert']);
    for (const s of [full, s2, s3]) s.client.destroy();
  });

  it('two PubSubs: a stream subscribed through both gets their messages in the order they were published', async (t) => {
    const ps1 = new PubSub();
    const ps2 = new PubSub();
    t.after(() => Promise.all([ps1.close(), ps2.close()]));
    const s = await subscriberPair(server);
    await ps1.subscribe(s.ws, 'a');
    await ps2.subscribe(s.ws, 'b');
    await new Promise((r) => setImmediate(r));
    void ps1.publish('a', 'a1');
    void ps2.publish('b', 'b1');
    void ps1.publish('a', 'a2');
    void ps1.publish('a', 'a3');
    void ps2.publish('b', 'b2');
    assert.deepEqual(await texts(s.client, 5), ['a1', 'b1', 'a2', 'a3', 'b2']);
    s.client.destroy();
  });

  it("bufferPolicy 'close': a run over maxBufferedBytes fails the subscriber with 1008, whether or not it is written at once", async (t) => {
    const strict = await startTestServer({ bufferPolicy: 'close', maxBufferedBytes: 1000 });
    t.after(() => strict.close());
    const ps = new PubSub();
    t.after(() => ps.close());
    const clients = [];
    for (const topics of [['alone'], ['queued', 'small']]) {
      const client = await RawClient.connect(strict.port);
      const { ws } = await strict.next();
      for (const topic of topics) await ps.subscribe(ws, topic);
      clients.push(client);
    }
    await new Promise((r) => setImmediate(r));
    void ps.publish('alone', 'x'.repeat(5000)); // alone in the turn: the run would be written at once
    await new Promise((r) => setImmediate(r));
    void ps.publish('queued', 'x'.repeat(5000));
    void ps.publish('small', 'y'); // two runs: queued
    for (const c of clients) {
      const f = await c.next();
      assert.equal(f.opcode, 8, 'a close frame, not the message');
      assert.equal(f.payload.readUInt16BE(0), 1008);
    }
  });

  it("a run that does not fit a subscriber's backlog is taken message by message: exactly the overflow is dropped", async (t) => {
    const frameBytes = 2 + 100;
    const ps = new PubSub({ slowSubscriber: { maxBytes: 3 * frameBytes, policy: 'drop' } });
    t.after(() => ps.close());
    const s = await subscriberPair(server);
    await ps.subscribe(s.ws, 'fit');
    await new Promise((r) => setImmediate(r));
    const drops: number[] = [];
    ps.on('drop', (e) => drops.push(e.bytes));
    const sent = Array.from({ length: 5 }, (_, i) => `${i}`.padEnd(100, '.'));
    for (const m of sent) void ps.publish('fit', m);
    void ps.publish('fit', 'x'.repeat(100)); // after the dropped ones: dropped too (a gap the offsets show)
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(drops, [frameBytes, frameBytes, frameBytes]);
    assert.deepEqual(await texts(s.client, 3), sent.slice(0, 3));
    s.client.destroy();
  });

  it('compresses once for subscribers without context takeover; others get the frame uncompressed', async (t) => {
    const ps = new PubSub();
    t.after(() => ps.close());
    const noTakeover = { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover' };
    const a = await subscriberPair(server, noTakeover);
    const b = await subscriberPair(server, noTakeover);
    const takeover = await subscriberPair(server, { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    const plain = await subscriberPair(server);
    assert.match(a.ws.extensions, /server_no_context_takeover/);
    for (const s of [a, b, takeover, plain]) {
      await ps.subscribe(s.ws, 'z');
    }
    await new Promise((r) => setImmediate(r));
    for (const s of [a, b, takeover, plain]) s.layer.written.length = 0;
    const text = 'compress me once please '.repeat(400);
    await ps.publish('z', text);
    const fa = await a.client.next();
    const fb = await b.client.next();
    assert.equal(fa.rsv, 4, 'RSV1: compressed');
    assert.ok(fa.payload.length < text.length / 5);
    assert.deepEqual(fb, fa);
    assert.equal(
      zlib
        .inflateRawSync(Buffer.concat([fa.payload, Buffer.from([0, 0, 0xff, 0xff])]), {
          finishFlush: zlib.constants.Z_SYNC_FLUSH,
        })
        .toString(),
      text,
    );
    for (const s of [takeover, plain]) {
      const f = await s.client.next();
      assert.equal(f.rsv, 0);
      assert.equal(f.payload.toString(), text);
    }
    const compressedFrame = a.layer.written.find((w) => w[0] === 0xc1)!;
    assert.ok(compressedFrame);
    assert.equal(
      b.layer.written.find((w) => w[0] === 0xc1),
      compressedFrame,
      'one compressed Buffer shared',
    );
    assert.equal(
      takeover.layer.written.find((w) => w[0] === 0x81),
      plain.layer.written.find((w) => w[0] === 0x81),
      'one plain Buffer shared',
    );
    // compress: false is honoured.
    await ps.publish('z', text, { compress: false });
    assert.equal((await a.client.next()).rsv, 0);
    for (const s of [a, b, takeover, plain]) s.client.destroy();
  });

  it('recovers exactly what was published after `since`, with live messages published during recovery, no gap, no duplicate', async (t) => {
    const ps = new PubSub({ history: { size: 100 } });
    t.after(() => ps.close());
    const first = await subscriberPair(server);
    const pos = await ps.subscribe(first.ws, 'r');
    for (let i = 1; i <= 10; i++) await ps.publish('r', `m${i}`);
    assert.deepEqual(
      await texts(first.client, 10),
      Array.from({ length: 10 }, (_, i) => `m${i + 1}`),
    );
    const second = await subscriberPair(server);
    const joined = ps.subscribe(second.ws, 'r', { since: { offset: 4, epoch: pos.epoch } });
    // Published while the subscription is being made, and again before its history is delivered.
    for (let i = 11; i <= 15; i++) void ps.publish('r', `m${i}`);
    const result = await joined;
    for (let i = 16; i <= 20; i++) void ps.publish('r', `m${i}`);
    assert.deepEqual(result, { offset: 4, epoch: pos.epoch, recovered: true });
    assert.deepEqual(
      await texts(second.client, 16),
      Array.from({ length: 16 }, (_, i) => `m${i + 5}`),
    );
    await ps.publish('r', 'm21');
    assert.deepEqual(await texts(second.client, 1), ['m21']);
    // `since` at the last offset recovers nothing, and is still recovered.
    const third = await subscriberPair(server);
    assert.deepEqual(await ps.subscribe(third.ws, 'r', { since: { offset: 21, epoch: pos.epoch } }), {
      offset: 21,
      epoch: pos.epoch,
      recovered: true,
    });
    await ps.publish('r', 'm22');
    assert.deepEqual(await texts(third.client, 1), ['m22']);
    for (const s of [first, second, third]) s.client.destroy();
  });

  it('reports recovered: false (and delivers from now on) for another epoch, a trimmed history, a future offset, no history', async (t) => {
    const ps = new PubSub({ history: { size: 3 } });
    const none = new PubSub({ history: { size: 0 } });
    t.after(() => Promise.all([ps.close(), none.close()]));
    const epoch = (ps.broker as MemoryBroker).epoch;
    for (let i = 1; i <= 6; i++) {
      await ps.publish('f', `m${i}`);
      await none.publish('f', `m${i}`);
    }
    const cases: [PubSub, { offset: number; epoch: string }][] = [
      [ps, { offset: 5, epoch: 'another life' }],
      [ps, { offset: 2, epoch }],
      [ps, { offset: 1000, epoch }],
      [none, { offset: 5, epoch: (none.broker as MemoryBroker).epoch }],
    ];
    for (const [pubsub, since] of cases) {
      const s = await subscriberPair(server);
      const now = await pubsub.broker.position('f');
      const r = await pubsub.subscribe(s.ws, 'f', { since });
      assert.deepEqual(r, { ...now, recovered: false }, JSON.stringify(since));
      await pubsub.publish('f', 'live');
      assert.deepEqual(await texts(s.client, 1), ['live']);
      s.client.destroy();
      await s.ws.whenClosed();
    }
    // A history of 3 still covers the last 3 (offsets 7 to 9).
    const s = await subscriberPair(server);
    assert.equal((await ps.subscribe(s.ws, 'f', { since: { offset: 6, epoch } })).recovered, true);
    assert.deepEqual(await texts(s.client, 3), ['live', 'live', 'live']);
    s.client.destroy();
  });

  it("slow subscriber, policy 'drop': the publisher never waits, the backlog stays bounded, drops are counted with an event", async (t) => {
    const maxBytes = 64 * 1024;
    const ps = new PubSub({ slowSubscriber: { maxBytes, policy: 'drop' } });
    t.after(() => ps.close());
    const slow = await subscriberPair(server);
    await ps.subscribe(slow.ws, 's');
    slow.client.sock.pause();
    const dropped = once<{ ws: unknown; topic: string; bytes: number; policy: string }>(ps, 'drop');
    let backlogAtDrop = -1;
    ps.once('drop', () => {
      backlogAtDrop = slow.ws.bufferedAmount;
    });
    const body = 'y'.repeat(1024);
    let i = 0;
    while (ps.dropped === 0) {
      await ps.publish('s', `${i++} ${body}`);
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    const e = await dropped;
    assert.equal(e.ws, slow.ws);
    assert.equal(e.topic, 's');
    assert.equal(e.policy, 'drop');
    assert.ok(e.bytes > 1024);
    assert.ok(backlogAtDrop <= maxBytes && backlogAtDrop > maxBytes - 2 * e.bytes, `backlog ${backlogAtDrop}`);
    assert.deepEqual(ps.topics(slow.ws), ['s'], 'still subscribed');
    await ps.publish('s', 'last');
    slow.client.sock.resume();
    // What arrives is in order; it ends with the last message (delivered once the backlog drained).
    let prev = -1;
    for (;;) {
      const text = (await slow.client.nextMessage()).payload.toString();
      if (text === 'last') break;
      const n = Number(text.split(' ')[0]);
      assert.ok(n > prev);
      prev = n;
    }
    assert.ok(prev < i - 1, 'some were dropped');
    slow.client.destroy();
  });

  it("slow subscriber, policy 'close': closed with 1008 and out of its topics, other subscribers unaffected", async (t) => {
    const maxBytes = 64 * 1024;
    const ps = new PubSub({ slowSubscriber: { maxBytes } });
    t.after(() => ps.close());
    const slow = await subscriberPair(server);
    const fast = await subscriberPair(server);
    await ps.subscribe(slow.ws, 'c');
    await ps.subscribe(fast.ws, 'c');
    slow.client.sock.pause();
    const dropped = once<{ policy: string }>(ps, 'drop');
    const body = 'z'.repeat(1024);
    let n = 0;
    let received = 0;
    const reading = (async () => {
      for (;;) {
        const m = await fast.client.nextMessage();
        if (m.payload.toString() === 'end') return;
        assert.equal(Number(m.payload.toString().split(' ')[0]), received++);
      }
    })();
    while (ps.dropped === 0) {
      await ps.publish('c', `${n++} ${body}`);
      if (n % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.equal((await dropped).policy, 'close');
    assert.deepEqual(ps.topics(slow.ws), []);
    assert.equal(ps.subscriberCount('c'), 1);
    await ps.publish('c', 'end');
    await reading;
    assert.equal(received, n, 'the reading subscriber got every message');
    slow.client.sock.resume();
    let close = await slow.client.next();
    while (close.opcode !== 8) close = await slow.client.next();
    assert.equal(close.payload.readUInt16BE(0), 1008);
    slow.client.send(closeFrame(1008));
    const info = await slow.ws.whenClosed();
    assert.equal(info.code, 1008);
    fast.client.destroy();
  });

  it('a closed stream leaves its topics by itself; unsubscribe stops delivery at once', async (t) => {
    const ps = new PubSub();
    t.after(() => ps.close());
    const a = await subscriberPair(server);
    const b = await subscriberPair(server);
    await ps.subscribe(a.ws, 'x');
    await ps.subscribe(a.ws, 'y');
    await ps.subscribe(b.ws, 'x');
    a.client.destroy();
    await a.ws.whenClosed();
    assert.deepEqual(ps.topics(a.ws), []);
    assert.equal(ps.subscriberCount('x'), 1);
    assert.equal(ps.subscriberCount('y'), 0);
    ps.unsubscribe(b.ws, 'x');
    assert.equal(ps.subscriberCount('x'), 0);
    await ps.publish('x', 'nobody');
    await ps.subscribe(b.ws, 'x');
    await ps.publish('x', 'again');
    assert.deepEqual(await texts(b.client, 1), ['again']);
    // A ws-stream/ws WebSocket stands for the stream it holds (as `_stream`): the same subscriber.
    const wsApiSocket = { _stream: b.ws };
    await ps.subscribe(wsApiSocket, 'w');
    assert.deepEqual(ps.topics(b.ws).sort(), ['w', 'x']);
    ps.unsubscribe(wsApiSocket, 'x');
    await ps.publish('w', 'through the adapter');
    assert.deepEqual(await texts(b.client, 1), ['through the adapter']);
    assert.deepEqual(ps.topics(wsApiSocket), ['w']);
    b.client.destroy();
  });

  it('rejects bad arguments with typed errors; a publish the broker cannot take rejects ERR_WS_BROKER_UNAVAILABLE', async (t) => {
    const broker = new MemoryBroker();
    const ps = new PubSub({ broker });
    t.after(() => ps.close());
    const s = await subscriberPair(server);
    const bad = { code: 'ERR_WS_INVALID_ARGUMENT' };
    await assert.rejects(ps.subscribe({} as never, 't'), bad);
    await assert.rejects(ps.subscribe(s.ws, ''), bad);
    await assert.rejects(ps.subscribe(s.ws, 'é'.repeat(129)), bad);
    await assert.rejects(ps.subscribe(s.ws, 42 as never), bad);
    await assert.rejects(ps.subscribe(s.ws, 't', { since: { offset: -1, epoch: 'e' } }), bad);
    await assert.rejects(ps.subscribe(s.ws, 't', { since: { offset: 1 } as never }), bad);
    await assert.rejects(ps.publish('', 'x'), bad);
    await assert.rejects(ps.publish('t', 42 as never), bad);
    await assert.rejects(ps.publish('t', Buffer.from([0xff, 0xfe]), { binary: false }), bad);
    assert.throws(() => ps.unsubscribe(s.ws, ''), bad);
    assert.throws(() => ps.topics(null as never), bad);
    assert.throws(() => new PubSub({ slowSubscriber: { policy: 'wait' as never } }), bad);
    assert.throws(() => new PubSub({ history: { size: -1 } }), bad);
    assert.throws(() => new PubSub({ slowSubscriber: { maxBytes: 0 } }), bad);
    // A client-role stream cannot take unmasked frames.
    const client = await connect(`ws://127.0.0.1:${server.port}/`);
    await server.next();
    await assert.rejects(ps.subscribe(client, 't'), bad);
    client.nextLayer.destroy();
    // A closed stream cannot subscribe.
    s.client.destroy();
    await s.ws.whenClosed();
    await assert.rejects(ps.subscribe(s.ws, 't'), { code: 'ERR_WS_INVALID_STATE' });
    await broker.close();
    await assert.rejects(ps.publish('t', 'x'), { code: 'ERR_WS_BROKER_UNAVAILABLE' });
    await ps.close();
    await assert.rejects(ps.publish('t', 'x'), { code: 'ERR_WS_INVALID_STATE' });
  });
});

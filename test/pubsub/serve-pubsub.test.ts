/** `ws-stream serve --pubsub` as a child process: the JSON protocol, order, recovery, and every kind of bad input. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../conformance/raw-client.js';
import { binary } from '../support/frames.js';
import { JsonClient } from './pubsub-support.js';

let server: Awaited<ReturnType<typeof startServer>>;
before(async () => {
  server = await startServer(['--pubsub', '--history', '50']);
});
after(() => server.stop());

async function subscribed(c: JsonClient, topic: string, since?: { offset: number; epoch: string }) {
  c.send(since ? { op: 'subscribe', topic, since } : { op: 'subscribe', topic });
  const r = await c.next('subscribed');
  assert.equal(r.op, 'subscribed', JSON.stringify(r));
  assert.equal(r.topic, topic);
  return r as { offset: number; epoch: string; recovered?: boolean };
}

describe('serve --pubsub', () => {
  it('serves the chat page at GET /', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<title>ws-stream chat<\/title>/);
  });

  it('subscribers on a topic receive every message once, in offset order, whatever its JSON data', async () => {
    const subs = [await JsonClient.connect(server.port), await JsonClient.connect(server.port)];
    const pubA = await JsonClient.connect(server.port);
    const pubB = await JsonClient.connect(server.port);
    const first = await subscribed(subs[0]!, 'room');
    assert.deepEqual(first, { op: 'subscribed', topic: 'room', offset: 0, epoch: first.epoch });
    assert.equal(typeof first.epoch, 'string');
    await subscribed(subs[1]!, 'room');
    const datas: unknown[] = ['text ✓', 42, null, true, { nested: [1, { x: 'y' }] }, [1, 2]];
    for (let i = 0; i < 30; i++) {
      pubA.send({ op: 'publish', topic: 'room', data: { from: 'a', i } });
      pubB.send({ op: 'publish', topic: 'room', data: datas[i % datas.length] });
    }
    const seen: unknown[][] = [];
    for (const s of subs) {
      const got: unknown[] = [];
      for (let offset = 1; offset <= 60; offset++) {
        const m = await s.next();
        assert.equal(m.op, 'message');
        assert.equal(m.topic, 'room');
        assert.equal(m.offset, offset, 'offsets 1, 2, 3… with no gap');
        assert.deepEqual(Object.keys(m), ['op', 'topic', 'data', 'offset']);
        got.push(m.data);
      }
      seen.push(got);
    }
    assert.deepEqual(seen[0], seen[1], 'the same order for every subscriber');
    assert.deepEqual(
      seen[0]!.filter((d) => (d as { from?: string } | null)?.from === 'a').map((d) => (d as { i: number }).i),
      Array.from({ length: 30 }, (_, i) => i),
      "one publisher's messages in the order it sent them",
    );
    // Unsubscribed: nothing more (the next message it gets is the reply to a later request).
    // Requests act in order, so the answer to the bad one says the unsubscribe has acted.
    subs[1]!.send({ op: 'unsubscribe', topic: 'room' });
    subs[1]!.send('not json');
    assert.equal((await subs[1]!.next()).op, 'error');
    pubA.send({ op: 'publish', topic: 'room', data: 'after' });
    assert.equal((await subs[0]!.next()).data, 'after');
    subs[1]!.send({ op: 'publish', topic: 'room', data: { too: 'long' } });
    subs[1]!.send('not json');
    assert.equal((await subs[1]!.next()).op, 'error');
    for (const c of [...subs, pubA, pubB]) c.close();
  });

  it('recovers what a client missed with since, then live messages; recovered: false for an unknown epoch', async () => {
    const a = await JsonClient.connect(server.port);
    const s = await subscribed(a, 'rec');
    for (let i = 1; i <= 5; i++) a.send({ op: 'publish', topic: 'rec', data: i });
    for (let i = 1; i <= 5; i++) assert.equal((await a.next()).offset, s.offset + i);
    const b = await JsonClient.connect(server.port);
    const r = await subscribed(b, 'rec', { offset: s.offset + 2, epoch: s.epoch });
    assert.equal(r.recovered, true);
    a.send({ op: 'publish', topic: 'rec', data: 6 });
    const got = [];
    for (let i = 0; i < 4; i++) {
      const m = await b.next();
      got.push([m.offset, m.data]);
    }
    assert.deepEqual(got, [
      [s.offset + 3, 3],
      [s.offset + 4, 4],
      [s.offset + 5, 5],
      [s.offset + 6, 6],
    ]);
    const c = await JsonClient.connect(server.port);
    const lost = await subscribed(c, 'rec', { offset: 1, epoch: 'not this one' });
    assert.deepEqual(lost, { op: 'subscribed', topic: 'rec', offset: s.offset + 6, epoch: s.epoch, recovered: false });
    // Subscribing again is answered as the first time (doc/pubsub.md): its offset, not where the topic is
    // now; its `recovered`, not what this since would recover; none when the first had no since.
    assert.equal((await a.next()).data, 6);
    assert.deepEqual(await subscribed(a, 'rec'), s);
    assert.deepEqual(await subscribed(a, 'rec', { offset: s.offset + 6, epoch: s.epoch }), { ...s, recovered: false });
    assert.deepEqual(await subscribed(c, 'rec', { offset: s.offset + 6, epoch: s.epoch }), lost);
    assert.deepEqual(await subscribed(b, 'rec'), { op: 'subscribed', topic: 'rec', offset: r.offset, epoch: r.epoch });
    for (const x of [a, b, c]) x.close();
  });

  it('answers every kind of bad input with an error op, and the connection stays open and served', async () => {
    const c = await JsonClient.connect(server.port);
    const cases: [string | Buffer, RegExp][] = [
      ['not json', /not JSON/],
      ['{"op":', /not JSON/],
      ['[1,2]', /not a JSON object/],
      ['"subscribe"', /not a JSON object/],
      ['null', /not a JSON object/],
      ['{}', /missing op/],
      ['{"op":"dance","topic":"t"}', /unknown op "dance"/],
      ['{"op":42}', /unknown op 42/],
      // (null is quoted as null, not named as an object, though its typeof is 'object')
      ['{"op":null,"topic":"t"}', /unknown op null$/],
      ['{"op":"subscribe"}', /missing topic/],
      ['{"op":"unsubscribe"}', /missing topic/],
      ['{"op":"publish","data":1}', /missing topic/],
      ['{"op":"publish","topic":"t"}', /missing data/],
      ['{"op":"subscribe","topic":""}', /topic/],
      ['{"op":"subscribe","topic":7}', /topic/],
      [JSON.stringify({ op: 'subscribe', topic: 'é'.repeat(129) }), /over 256 bytes/],
      [JSON.stringify({ op: 'publish', topic: 'x'.repeat(257), data: 1 }), /over 256 bytes/],
      ['{"op":"subscribe","topic":"t","since":{"offset":-1,"epoch":"e"}}', /since/],
      ['{"op":"subscribe","topic":"t","since":{"offset":1}}', /since/],
      ['{"op":"subscribe","topic":"t","since":"yesterday"}', /since/],
      [binary(Buffer.from('{"op":"subscribe","topic":"t"}')), /text frames/],
    ];
    for (const [input, message] of cases) {
      if (typeof input === 'string') c.send(input);
      else c.sendRaw(input);
      const e = await c.next(`the error for ${String(input)}`);
      assert.equal(e.op, 'error', String(input));
      assert.equal(e.code, 'ERR_WS_INVALID_ARGUMENT', String(input));
      assert.match(e.message, message, String(input));
      assert.deepEqual(Object.keys(e), ['op', 'code', 'message']);
    }
    // Exactly 256 bytes is a topic; and the connection still works.
    const topic = 'é'.repeat(128);
    await subscribed(c, topic);
    c.send({ op: 'publish', topic, data: 'still here' });
    assert.deepEqual(await c.next(), { op: 'message', topic, data: 'still here', offset: 1 });
    assert.equal(c.ended, false);
    c.close();
  });

  it('--deflate: a message is compressed once, without context takeover, and the same bytes reach every subscriber', async () => {
    const own = await startServer(['--pubsub', '--deflate']);
    try {
      const offer = 'permessage-deflate; client_max_window_bits';
      const subs = [await JsonClient.connect(own.port, offer), await JsonClient.connect(own.port, offer)];
      const plain = await JsonClient.connect(own.port);
      for (const c of subs) assert.match(String(c.agreed), /^permessage-deflate; server_no_context_takeover/);
      assert.equal(plain.agreed, undefined);
      for (const c of [...subs, plain]) await subscribed(c, 'big');
      const data = { text: 'a long line that compresses well '.repeat(100) };
      plain.send({ op: 'publish', topic: 'big', data });
      for (const c of [...subs, plain])
        assert.deepEqual(await c.next(), { op: 'message', topic: 'big', data, offset: 1 });
      assert.equal(subs[0]!.compressed.length, 1);
      assert.ok(subs[0]!.compressed[0]!.length < 400);
      assert.deepEqual(subs[1]!.compressed, subs[0]!.compressed);
      assert.equal(plain.compressed.length, 0);
      for (const c of [...subs, plain]) c.close();
    } finally {
      await own.stop();
    }
  });

  it('on SIGINT closes every connection with 1001 and exits 0', async () => {
    const own = await startServer(['--pubsub']);
    const c = await JsonClient.connect(own.port);
    await subscribed(c, 't');
    const exited = new Promise<number | null>((resolve) => own.proc.once('exit', (code) => resolve(code)));
    own.proc.kill('SIGINT');
    await c.closed();
    assert.equal(c.closeCode, 1001);
    assert.equal(await exited, 0);
  });
});

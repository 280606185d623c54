/**
 * What one hostile publisher can make a broker hold: history bounded in payload bytes per topic
 * (memory, cluster primary, NATS's `max_bytes`, Redis's trimming by a running byte count), and topics the memory broker forgets once nobody
 * subscribes and no history is left, so abandoned topics cost nothing. Measured by what the broker
 * holds (its `stats()`, its history, JetStream's stream state), not by the process's memory.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ClusterBroker,
  MemoryBroker,
  NatsBroker,
  PubSub,
  RedisBroker,
  pubSubDefaults,
} from '../../src/pubsub/index.js';
import type { BrokerMessage, HistoryOptions } from '../../src/pubsub/index.js';
import { BOOKKEEPING } from '../../src/pubsub/memory-broker.js';
import { BrokerProcess, BrokerRecorder, poll } from '../support/brokers.js';
import { natsBrokersOfSuite, startTestServer, subscriberPair } from './pubsub-support.js';

const MiB = 1024 * 1024;

async function opened(history: HistoryOptions) {
  const broker = new MemoryBroker();
  const got: BrokerMessage[] = [];
  await broker.open({ onMessage: (m) => got.push(m), onAvailability: () => {} }, history);
  return { broker, got };
}

const texts = (list: BrokerMessage[] | null): string[] | null => list?.map((m) => m.data.toString()) ?? null;

describe('history bytes per topic', () => {
  it('defaults to 16 MiB; a bad value is ERR_WS_INVALID_ARGUMENT (PubSub, the cluster primary, a broker opening)', async () => {
    assert.equal(pubSubDefaults.history.bytes, 16 * MiB);
    for (const bytes of [-1, 1.5, Number.NaN, 2 ** 53, '10' as unknown as number]) {
      assert.throws(() => new PubSub({ history: { bytes } }), { code: 'ERR_WS_INVALID_ARGUMENT' }, String(bytes));
      assert.throws(() => ClusterBroker.servePrimary({ size: 10, ttlSeconds: 0, bytes }), {
        code: 'ERR_WS_INVALID_ARGUMENT',
      });
      const events = { onMessage: () => {}, onAvailability: () => {} };
      await assert.rejects(new MemoryBroker().open(events, { size: 10, ttlSeconds: 0, bytes }), {
        code: 'ERR_WS_INVALID_ARGUMENT',
      });
      await assert.rejects(new NatsBroker('nats://127.0.0.1:1').open(events, { size: 10, ttlSeconds: 0, bytes }), {
        code: 'ERR_WS_INVALID_ARGUMENT',
      });
      await assert.rejects(new RedisBroker('redis://127.0.0.1:1').open(events, { size: 10, ttlSeconds: 0, bytes }), {
        code: 'ERR_WS_INVALID_ARGUMENT',
      });
    }
  });

  it('0 is a bound (no payload kept): PubSub, the cluster primary and a broker take it; messages still go out live', async (t) => {
    assert.doesNotThrow(() => new PubSub({ history: { size: 10, ttlSeconds: 0, bytes: 0 } }));
    await ClusterBroker.servePrimary({ size: 10, ttlSeconds: 0, bytes: 0 }).close();
    const { broker, got } = await opened({ size: 10, ttlSeconds: 0, bytes: 0 });
    t.after(() => broker.close());
    await broker.subscribe('z');
    assert.equal((await broker.publish('z', Buffer.from('live'), false)).offset, 1);
    assert.deepEqual(texts(got), ['live']);
    assert.deepEqual(broker.stats(), { topics: 1, bytes: 0 });
    assert.equal(await broker.history('z', { offset: 0, epoch: broker.epoch }), null, 'offset 1 was not kept');
    assert.deepEqual(texts(await broker.history('z', { offset: 1, epoch: broker.epoch })), []);
  });

  it('150 publications of 4 MiB to one topic: the memory broker keeps the newest 16 MiB (4 messages), by default', async (t) => {
    const { broker } = await opened({ size: 1000, ttlSeconds: 0 });
    t.after(() => broker.close());
    const big = Buffer.alloc(4 * MiB, 0x61);
    for (let i = 1; i <= 150; i++) assert.equal((await broker.publish('t', big, true)).offset, i);
    assert.deepEqual(broker.stats(), { topics: 1, bytes: 16 * MiB });
    const epoch = broker.epoch;
    assert.deepEqual(
      (await broker.history('t', { offset: 146, epoch }))?.map((m) => m.offset),
      [147, 148, 149, 150],
    );
    assert.equal(await broker.history('t', { offset: 145, epoch }), null, '146 was trimmed by bytes');
    assert.equal(await broker.history('t', { offset: 0, epoch }), null);
  });

  it('bytes trims the oldest first; a message over the bound is not kept, nor anything before it', async (t) => {
    const { broker } = await opened({ size: 100, ttlSeconds: 0, bytes: 10 });
    t.after(() => broker.close());
    const at = (offset: number) => broker.history('s', { offset, epoch: broker.epoch });
    await broker.subscribe('s'); // (subscribed: the topic is not forgotten when its history empties)
    for (const m of ['aaa', 'bbb', 'ccc']) await broker.publish('s', Buffer.from(m), false);
    assert.deepEqual(texts(await at(0)), ['aaa', 'bbb', 'ccc']);
    await broker.publish('s', Buffer.from('dd'), false); // 11 bytes: 'aaa' goes
    assert.equal(await at(0), null);
    assert.deepEqual(texts(await at(1)), ['bbb', 'ccc', 'dd']);
    assert.deepEqual(broker.stats(), { topics: 1, bytes: 8 });
    await broker.publish('s', Buffer.from('eleven byte'), false);
    assert.deepEqual(broker.stats(), { topics: 1, bytes: 0 });
    assert.equal(await at(4), null, 'offset 5 was not kept');
    assert.deepEqual(texts(await at(5)), []);
    await broker.publish('s', Buffer.from('f'), false);
    assert.deepEqual(texts(await at(5)), ['f']);
    assert.equal(await at(4), null);
    await broker.publish('s', Buffer.from('0123456789'), false); // exactly the bound: kept, alone
    assert.deepEqual(texts(await at(6)), ['0123456789']);
    assert.equal(await at(5), null);
  });

  it('PubSub: a since older than what bytes trimmed is recovered: false; a kept one is recovered', async (t) => {
    const web = await startTestServer();
    const ps = new PubSub({ history: { size: 100, ttlSeconds: 0, bytes: 8 } });
    t.after(async () => {
      await ps.close();
      await web.close();
    });
    const { JsonClient } = await import('./pubsub-support.js');
    const client = await JsonClient.connect(web.port);
    t.after(() => client.sock.destroy());
    const { ws } = await web.next();
    let last = { offset: 0, epoch: '' };
    for (const m of ['1234', '5678', 'abcd']) last = await ps.publish('r', m);
    assert.deepEqual(last.offset, 3);
    const trimmed = await ps.subscribe(ws, 'r', { since: { offset: 0, epoch: last.epoch } });
    assert.deepEqual(trimmed, { ...last, recovered: false });
    ps.unsubscribe(ws, 'r');
    const kept = await ps.subscribe(ws, 'r', { since: { offset: 1, epoch: last.epoch } });
    assert.deepEqual(kept, { offset: 1, epoch: last.epoch, recovered: true });
  });
});

describe('memory broker forgets abandoned topics', () => {
  it('topics without history kept (size 0) and nobody subscribed are not held at all', async (t) => {
    const { broker } = await opened({ size: 0, ttlSeconds: 0 });
    t.after(() => broker.close());
    for (let i = 0; i < 20_000; i++) await broker.publish(`topic-${i}`, Buffer.from('x'), false);
    assert.deepEqual(broker.stats(), { topics: 0, bytes: 0 });
    await broker.subscribe('kept');
    await broker.publish('kept', Buffer.from('x'), false);
    assert.equal(broker.stats().topics, 1, 'a subscribed topic stays');
    await broker.unsubscribe('kept');
    assert.equal(broker.stats().topics, 0);
  });

  it('20,000 one-message topics are dropped once their history expired, with nobody subscribed', async (t) => {
    const { broker } = await opened({ size: 10, ttlSeconds: 0.5 });
    t.after(() => broker.close());
    await broker.subscribe('watched');
    for (let i = 0; i < 20_000; i++) await broker.publish(`topic-${i}`, Buffer.from('12345'), false);
    await broker.publish('watched', Buffer.from('w'), false);
    const held = broker.stats();
    assert.ok(held.topics > 1 && held.bytes > 5, JSON.stringify(held)); // (some may have expired already)
    // No event announces an expiry: wait until the broker's own sweep has run. 'watched' keeps its
    // one message until it too expires (published last, it may outlive the sweep that drops the rest).
    await poll(async () => broker.stats().topics === 1 && broker.stats().bytes === 0);
    assert.deepEqual(broker.stats(), { topics: 1, bytes: 0 });
    assert.deepEqual(await broker.position('watched'), { offset: 1, epoch: broker.epoch }, 'subscribed: kept');
  });

  it('expired history of a topic nobody subscribes to is dropped, and the topic forgotten, within a quarter of the TTL', async (t) => {
    // The broker's sweep and clock are node's mock timers: the test moves time (no waiting).
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
    const ttlSeconds = 8;
    const { broker } = await opened({ size: 10, ttlSeconds });
    t.after(() => broker.close());
    await broker.publish('idle', Buffer.from('12345'), false);
    // (A tick runs the sweeps it passes at its end time: this one's last sweep finds it just not expired.)
    t.mock.timers.tick(ttlSeconds * 1000);
    assert.deepEqual(broker.stats(), { topics: 1, bytes: 5 }, 'not expired yet');
    t.mock.timers.tick((ttlSeconds * 1000) / 4);
    assert.deepEqual(broker.stats(), { topics: 0, bytes: 0 });
  });

  it('a topic made again after it was forgotten starts over under a new epoch: an old since is not recovered', async (t) => {
    // The broker is used directly and read through the PubSub that opened it (a broker serves one PubSub).
    const broker = new MemoryBroker();
    const ps = new PubSub({ broker, history: { size: 10, ttlSeconds: 0, bytes: 4 } });
    const web = await startTestServer();
    t.after(async () => {
      await ps.close();
      await web.close();
    });
    await broker.publish('t', Buffer.from('aa'), false);
    const old = await broker.publish('t', Buffer.from('bb'), false);
    assert.deepEqual(old, { offset: 2, epoch: broker.epoch });
    assert.deepEqual(texts(await broker.history('t', { offset: 1, epoch: old.epoch })), ['bb']);
    await broker.publish('t', Buffer.from('too big'), false); // nothing kept: forgotten
    assert.equal(broker.stats().topics, 0);
    const now = await broker.position('t');
    assert.equal(now.offset, 0);
    assert.notEqual(now.epoch, old.epoch);
    const again = await broker.publish('t', Buffer.from('cc'), false);
    assert.deepEqual(again, { offset: 1, epoch: now.epoch });
    for (const offset of [0, 1, 2]) assert.equal(await broker.history('t', { offset, epoch: old.epoch }), null);
    assert.deepEqual(texts(await broker.history('t', { offset: 0, epoch: again.epoch })), ['cc']);
    // Through PubSub: the old position is reported not recovered, with where the topic is now.
    const { JsonClient } = await import('./pubsub-support.js');
    const client = await JsonClient.connect(web.port);
    t.after(() => client.sock.destroy());
    const { ws } = await web.next();
    assert.deepEqual(await ps.subscribe(ws, 't', { since: old }), { ...again, recovered: false });
  });
});

describe('memory broker: the epoch changes only when a topic that had messages is forgotten', () => {
  it('a topic forgotten without ever having a message keeps its epoch, whatever other topics lost: since offset 0 is recovered', async (t) => {
    const history = { size: 10, ttlSeconds: 0, bytes: 4 };
    const broker = new MemoryBroker();
    const ps = new PubSub({ broker, history });
    const web = await startTestServer();
    t.after(async () => {
      await ps.close();
      await web.close();
    });
    const { client, ws } = await subscriberPair(web);
    t.after(() => client.destroy());
    const first = await ps.subscribe(ws, 'room');
    assert.deepEqual(first, { offset: 0, epoch: broker.epoch });
    ps.unsubscribe(ws, 'room');
    await poll(async () => broker.stats().topics === 0); // the empty topic is forgotten
    // Other topics had messages and lost them (not kept: over `bytes`), and are forgotten.
    for (let i = 0; i < 50; i++) await broker.publish(`gone-${i}`, Buffer.from('too big'), false);
    assert.equal(broker.stats().topics, 0);
    assert.deepEqual(await broker.position('room'), first, 'nothing of room was lost: same epoch');
    const again = await ps.subscribe(ws, 'room', { since: first });
    assert.deepEqual(again, { ...first, recovered: true });
    assert.deepEqual(await ps.publish('room', 'hi'), { offset: 1, epoch: first.epoch });
    assert.deepEqual(await client.nextMessage(), { opcode: 1, payload: Buffer.from('hi') });
  });
});

describe('memory broker: history bytes across all topics (totalBytes)', () => {
  it('past totalBytes, the topics published to least recently lose their oldest messages first; emptied ones are forgotten', async (t) => {
    const broker = new MemoryBroker({ totalBytes: 100 });
    t.after(() => broker.close());
    await broker.open({ onMessage: () => {}, onAvailability: () => {} }, { size: 100, ttlSeconds: 0, bytes: 50 });
    const ten = (c: string) => Buffer.alloc(10, c);
    const since = async (topic: string, offset: number) =>
      (await broker.history(topic, { offset, epoch: broker.epoch }))?.map((m) => m.offset) ?? null;
    for (let i = 0; i < 5; i++) await broker.publish('a', ten('a'), false);
    for (let i = 0; i < 5; i++) await broker.publish('b', ten('b'), false);
    assert.deepEqual(broker.stats(), { topics: 2, bytes: 100 });
    await broker.publish('c', ten('c'), false); // 110: a (published to least recently) loses offset 1
    assert.deepEqual(broker.stats(), { topics: 3, bytes: 100 });
    assert.equal(await since('a', 0), null);
    assert.deepEqual(await since('a', 1), [2, 3, 4, 5]);
    await broker.publish('a', ten('a'), false); // a is now the latest; b is first in line
    assert.deepEqual(await since('b', 1), [2, 3, 4, 5]);
    assert.equal(await since('b', 0), null);
    assert.deepEqual(await since('a', 1), [2, 3, 4, 5, 6]);
    // Many topics: only the newest fit; the others have no history left and nobody subscribes.
    for (let i = 0; i < 1000; i++) await broker.publish(`many-${i}`, ten('m'), false);
    assert.deepEqual(broker.stats(), { topics: 10, bytes: 100 });
    const { epoch } = await broker.position('many-999');
    assert.deepEqual(texts(await broker.history('many-999', { offset: 0, epoch })), ['mmmmmmmmmm']);
    const made = await broker.position('many-0');
    assert.equal(made.offset, 0, 'many-0 lost its message and was forgotten');
    assert.notEqual(made.epoch, broker.epoch, 'it had a message: made again, a new epoch');
    assert.throws(() => new MemoryBroker({ totalBytes: -1 }), { code: 'ERR_WS_INVALID_ARGUMENT' });
    assert.throws(() => new MemoryBroker({ totalBytes: 0.5 }), { code: 'ERR_WS_INVALID_ARGUMENT' });
  });

  it('counts what keeping costs beside the payload: one-byte messages to thousands of topics are dropped too', async (t) => {
    // Without this, 2,000 topics of one one-byte message each were 2,000 bytes of "history" and held
    // ~900 bytes of memory each: a client publishing to fresh topics ran `serve --pubsub` out of heap.
    const broker = new MemoryBroker({ totalBytes: MiB });
    t.after(() => broker.close());
    await broker.open({ onMessage: () => {}, onAvailability: () => {} }, { size: 100, ttlSeconds: 0 });
    await broker.publish('first', Buffer.from('1'), false);
    const name = 'n'.repeat(200);
    for (let i = 0; i < 2000; i++) await broker.publish(`${name}${i}`, Buffer.from('1'), false);
    const perTopic = BOOKKEEPING.message + BOOKKEEPING.topic + 2 * (name.length + 4);
    const { topics, bytes } = broker.stats();
    assert.ok(topics <= Math.ceil(MiB / perTopic), `${topics} topics kept, each costing ${perTopic} bytes`);
    assert.equal(bytes, topics, 'one payload byte each');
    assert.equal(
      await broker.history('first', { offset: 0, epoch: broker.epoch }),
      null,
      'published to first: dropped first',
    );
    const last = `${name}1999`;
    const { epoch } = await broker.position(last);
    assert.deepEqual(texts(await broker.history(last, { offset: 0, epoch })), ['1'], 'the newest is kept');
    // Many messages of few topics: each message costs its bookkeeping too.
    for (let i = 0; i < 100 * 100; i++) await broker.publish(`m${i % 100}`, Buffer.from('1'), false);
    const kept = broker.stats().bytes; // (one byte each)
    assert.ok(kept > 0 && kept <= MiB / BOOKKEEPING.message, `${kept} messages kept`);
  });

  it("a topic's own cost counts once, not per message: one topic keeps every message that its bookkeeping fits", async (t) => {
    const broker = new MemoryBroker({ totalBytes: MiB });
    t.after(() => broker.close());
    await broker.open({ onMessage: () => {}, onAvailability: () => {} }, { size: 5000, ttlSeconds: 0 });
    // 3,000 messages: 3,000 × 256 + one topic's 512 + its name, under 1 MiB (per message, the topic's
    // cost would be 2.3 MB).
    for (let i = 0; i < 3000; i++) await broker.publish('one', Buffer.from('1'), false);
    assert.equal((await broker.history('one', { offset: 0, epoch: broker.epoch }))?.length, 3000);
    assert.deepEqual(broker.stats(), { topics: 1, bytes: 3000 });
  });

  it('a subscribed topic whose history was dropped stays, with its offset and epoch', async (t) => {
    const broker = new MemoryBroker({ totalBytes: 10 });
    t.after(() => broker.close());
    await broker.open({ onMessage: () => {}, onAvailability: () => {} }, { size: 100, ttlSeconds: 0 });
    await broker.subscribe('kept');
    await broker.publish('kept', Buffer.alloc(10), true);
    await broker.publish('other', Buffer.alloc(10), true);
    assert.deepEqual(broker.stats(), { topics: 2, bytes: 10 });
    assert.deepEqual(await broker.position('kept'), { offset: 1, epoch: broker.epoch });
    assert.equal(await broker.history('kept', { offset: 0, epoch: broker.epoch }), null);
  });
});

describe('NatsBroker: history bytes are the stream max_bytes', () => {
  const { open } = natsBrokersOfSuite();

  it('keeps the newest messages within max_bytes; an older since is not recovered; offsets go on', async () => {
    const broker = await open({ size: 1000, ttlSeconds: 0, bytes: 64 * 1024 });
    const chunk = Buffer.alloc(16 * 1024, 0x62);
    let last = { offset: 0, epoch: '' };
    for (let i = 0; i < 20; i++) last = await broker.publish('big', chunk, true);
    assert.equal(last.offset, 20);
    // JetStream counts subject and headers too: fewer than 4 of 16 KiB fit in 64 KiB.
    const kept = await broker.history('big', { offset: 17, epoch: last.epoch });
    assert.deepEqual(
      kept?.map((m) => m.offset),
      [18, 19, 20],
    );
    assert.equal(await broker.history('big', { offset: 16, epoch: last.epoch }), null);
    assert.equal(await broker.history('big', { offset: 0, epoch: last.epoch }), null);
  });

  it('history size 1: the stream keeps the newest message alone (max_msgs 1); a since before it is not recovered', async () => {
    const broker = await open({ size: 1, ttlSeconds: 0 });
    let last = { offset: 0, epoch: '' };
    for (const text of ['a', 'b', 'c']) last = await broker.publish('one', Buffer.from(text), false);
    assert.equal(last.offset, 3);
    assert.deepEqual(texts(await broker.history('one', { offset: 2, epoch: last.epoch })), ['c']);
    assert.equal(await broker.history('one', { offset: 1, epoch: last.epoch }), null);
  });

  it('a message over max_bytes takes its offset and is not kept', async () => {
    const broker = await open({ size: 1000, ttlSeconds: 0, bytes: 1024 });
    await broker.publish('over', Buffer.from('small'), false);
    const big = await broker.publish('over', Buffer.alloc(4096), true);
    assert.equal(big.offset, 2);
    assert.equal(await broker.history('over', { offset: 0, epoch: big.epoch }), null);
    assert.equal(await broker.history('over', { offset: 1, epoch: big.epoch }), null);
    const next = await broker.publish('over', Buffer.from('next'), false);
    assert.equal(next.offset, 3);
    assert.deepEqual(texts(await broker.history('over', { offset: 2, epoch: big.epoch })), ['next']);
  });
});

describe('RedisBroker: history trimmed by a running byte count', () => {
  let server: BrokerProcess;
  const brokers: RedisBroker[] = [];
  before(async () => {
    server = await BrokerProcess.redis();
  });
  after(async () => {
    for (const b of brokers) await b.close();
    await server.stop();
  });
  async function open(history: HistoryOptions): Promise<RedisBroker> {
    const broker = new RedisBroker(server.url);
    brokers.push(broker);
    await broker.open(new BrokerRecorder(), history);
    return broker;
  }

  it('150 publications of 64 KiB with bytes 256 KiB: the newest 4 are kept; an older since is not recovered', async () => {
    const broker = await open({ size: 1000, ttlSeconds: 60, bytes: 256 * 1024 });
    const chunk = Buffer.alloc(64 * 1024, 0x63);
    let last = { offset: 0, epoch: '' };
    for (let i = 0; i < 150; i++) last = await broker.publish('big', chunk, true);
    assert.equal(last.offset, 150);
    assert.deepEqual(
      (await broker.history('big', { offset: 146, epoch: last.epoch }))?.map((m) => m.offset),
      [147, 148, 149, 150],
    );
    assert.equal(await broker.history('big', { offset: 145, epoch: last.epoch }), null);
    assert.equal(await broker.history('big', { offset: 0, epoch: last.epoch }), null);
  });

  it('bytes trims the oldest first; a message over the bound is not kept, nor anything before it', async () => {
    const broker = await open({ size: 100, ttlSeconds: 0, bytes: 10 });
    let at = { offset: 0, epoch: '' };
    const after = async (offset: number) => texts(await broker.history('s', { offset, epoch: at.epoch }));
    for (const m of ['aaa', 'bbb', 'ccc']) at = await broker.publish('s', Buffer.from(m), false);
    assert.deepEqual(await after(0), ['aaa', 'bbb', 'ccc']);
    at = await broker.publish('s', Buffer.from('dd'), false); // 11 bytes: 'aaa' goes
    assert.equal(await after(0), null);
    assert.deepEqual(await after(1), ['bbb', 'ccc', 'dd']);
    at = await broker.publish('s', Buffer.from('eleven byte'), false);
    assert.equal(at.offset, 5);
    assert.equal(await after(4), null, 'offset 5 was not kept');
    assert.deepEqual(await after(5), []);
    await broker.publish('s', Buffer.from('f'), false);
    assert.deepEqual(await after(5), ['f']);
    assert.equal(await after(4), null);
  });

  it('a message of exactly bytes is kept, alone (what came before it goes); one byte more is not kept', async () => {
    const broker = await open({ size: 100, ttlSeconds: 0, bytes: 10 });
    await broker.publish('exact', Buffer.from('a'), false);
    const at = await broker.publish('exact', Buffer.from('0123456789'), false);
    assert.equal(at.offset, 2);
    const after = async (offset: number) => texts(await broker.history('exact', { offset, epoch: at.epoch }));
    assert.deepEqual(await after(1), ['0123456789']);
    assert.equal(await after(0), null);
    const over = await broker.publish('exact', Buffer.from('0123456789!'), false);
    assert.equal(over.offset, 3);
    assert.equal(await after(2), null);
    assert.deepEqual(await after(3), []);
  });
});

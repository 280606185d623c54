/** RedisBroker against a real redis-server started here: offsets, order, history, epoch, outages. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { WebSocketError } from '../../src/errors.js';
import type { HistoryOptions } from '../../src/pubsub/broker.js';
import { RedisBroker, type RedisBrokerOptions } from '../../src/pubsub/redis-broker.js';
import { BrokerProcess, BrokerRecorder, freePort, poll } from '../support/brokers.js';

const history: HistoryOptions = { size: 100, ttlSeconds: 0 };

function isUnavailable(err: unknown): boolean {
  return err instanceof WebSocketError && err.code === 'ERR_WS_BROKER_UNAVAILABLE';
}

describe('RedisBroker', () => {
  let redis: BrokerProcess;
  const brokers: RedisBroker[] = [];
  before(async () => {
    redis = await BrokerProcess.redis();
  });
  after(async () => {
    for (const b of brokers) await b.close();
    await redis.stop();
  });

  /** An open broker on the test's Redis, with a recorder of its events; closed after the suite. */
  async function open(h: HistoryOptions = history, options: RedisBrokerOptions = {}) {
    const broker = new RedisBroker({ url: redis.url, ...options });
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, h);
    return { broker, events };
  }

  it('rejects a URL that is not redis:// and reports a Redis that is not there', async () => {
    assert.throws(() => new RedisBroker('http://127.0.0.1:1'), { code: 'ERR_WS_INVALID_ARGUMENT' });
    assert.throws(() => new RedisBroker('not a url'), { code: 'ERR_WS_INVALID_ARGUMENT' });
    const nobody = new RedisBroker(`redis://127.0.0.1:${await freePort()}`);
    await assert.rejects(nobody.open(new BrokerRecorder(), history), { code: 'ERR_WS_BROKER_UNAVAILABLE' });
  });

  it("offsets are contiguous under two concurrent publishers; two subscribers see one order, each publisher's kept", async () => {
    const topic = 'concurrent';
    const [a, b, c, d] = [await open(), await open(), await open(), await open()];
    await c.broker.subscribe(topic);
    await d.broker.subscribe(topic);
    const perPublisher = 200;
    const sent = new Map<number, string>();
    const publishAll = async (name: string, broker: RedisBroker) => {
      await Promise.all(
        Array.from({ length: perPublisher }, async (_, i) => {
          const text = `${name}${i}`;
          const at = await broker.publish(topic, Buffer.from(text), false);
          assert.ok(!sent.has(at.offset), `offset ${at.offset} given twice`);
          sent.set(at.offset, text);
        }),
      );
    };
    await Promise.all([publishAll('a', a.broker), publishAll('b', b.broker)]);
    const total = 2 * perPublisher;
    assert.deepEqual(
      [...sent.keys()].sort((x, y) => x - y),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    for (const { events } of [c, d]) {
      const got = await events.received(topic, total);
      assert.equal(got.length, total);
      got.forEach((m, i) => {
        assert.equal(m.offset, i + 1);
        assert.equal(m.data.toString(), sent.get(m.offset));
      });
      for (const name of ['a', 'b']) {
        const own = got.map((m) => m.data.toString()).filter((t) => t.startsWith(name));
        assert.deepEqual(
          own,
          Array.from({ length: perPublisher }, (_, i) => `${name}${i}`),
          "one publisher's messages in the order it published them",
        );
      }
    }
  });

  it('history after an offset is exact; the present is empty; the future and other epochs are null', async () => {
    const topic = 'history';
    const { broker } = await open();
    const at0 = await broker.position(topic);
    assert.equal(at0.offset, 0);
    for (let i = 1; i <= 10; i++) {
      const at = await broker.publish(topic, Buffer.from(`m${i}`), i % 2 === 0);
      assert.deepEqual(at, { offset: i, epoch: at0.epoch });
    }
    assert.deepEqual(await broker.position(topic), { offset: 10, epoch: at0.epoch });
    const got = await broker.history(topic, { offset: 3, epoch: at0.epoch });
    assert.deepEqual(
      got?.map((m) => [m.topic, m.offset, m.epoch, m.data.toString(), m.binary]),
      Array.from({ length: 7 }, (_, i) => [topic, i + 4, at0.epoch, `m${i + 4}`, (i + 4) % 2 === 0]),
    );
    assert.deepEqual(await broker.history(topic, { offset: 0, epoch: at0.epoch }).then((h) => h?.length), 10);
    assert.deepEqual(await broker.history(topic, { offset: 10, epoch: at0.epoch }), []);
    assert.equal(await broker.history(topic, { offset: 11, epoch: at0.epoch }), null);
    assert.equal(await broker.history(topic, { offset: 3, epoch: 'another' }), null);
    assert.equal(await broker.history('never-published', { offset: 0, epoch: at0.epoch }), null);
  });

  it('history trimmed to its size is null before what it keeps and exact from there', async () => {
    const topic = 'trimmed';
    const { broker } = await open({ size: 5, ttlSeconds: 0 });
    let epoch = '';
    for (let i = 1; i <= 8; i++) epoch = (await broker.publish(topic, Buffer.from(`m${i}`), false)).epoch;
    assert.equal(await broker.history(topic, { offset: 2, epoch }), null);
    const kept = await broker.history(topic, { offset: 3, epoch });
    assert.deepEqual(
      kept?.map((m) => m.data.toString()),
      ['m4', 'm5', 'm6', 'm7', 'm8'],
    );
  });

  it('no history kept: history is always null, offsets still count', async () => {
    const { broker } = await open({ size: 0, ttlSeconds: 0 });
    const at = await broker.publish('none', Buffer.from('x'), false);
    assert.equal(at.offset, 1);
    assert.equal(await broker.history('none', { offset: 0, epoch: at.epoch }), null);
  });

  it('history expires after ttlSeconds', async () => {
    const topic = 'ttl';
    const { broker } = await open({ size: 100, ttlSeconds: 0.2 });
    const at = await broker.publish(topic, Buffer.from('soon gone'), false);
    assert.equal((await broker.history(topic, { offset: 0, epoch: at.epoch }))?.length, 1);
    await poll(async () => (await broker.history(topic, { offset: 0, epoch: at.epoch })) === null);
    const next = await broker.publish(topic, Buffer.from('fresh'), false);
    assert.deepEqual(next, { offset: 2, epoch: at.epoch });
    assert.deepEqual(
      (await broker.history(topic, { offset: 1, epoch: at.epoch }))?.map((m) => m.data.toString()),
      ['fresh'],
    );
  });

  it('binary payloads (every byte value, newlines, spaces) arrive intact live and from history', async () => {
    const topic = 'bytes';
    const [pub, sub] = [await open(), await open()];
    await sub.broker.subscribe(topic);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const payloads = [all, Buffer.from('\n \n0 1 x\n'), Buffer.alloc(0), Buffer.from('héllo ✓')];
    let epoch = '';
    for (const [i, p] of payloads.entries()) epoch = (await pub.broker.publish(topic, p, i !== 3)).epoch;
    const live = await sub.events.received(topic, payloads.length);
    const stored = await pub.broker.history(topic, { offset: 0, epoch });
    for (const got of [live, stored!]) {
      assert.equal(got.length, payloads.length);
      got.forEach((m, i) => {
        assert.deepEqual(m.data, payloads[i]);
        assert.equal(m.binary, i !== 3);
        assert.equal(m.epoch, epoch);
      });
    }
  });

  it('unsubscribe stops delivery of that topic only', async () => {
    const [pub, sub] = [await open(), await open()];
    await sub.broker.subscribe('left');
    await sub.broker.subscribe('kept');
    await pub.broker.publish('left', Buffer.from('1'), false);
    await sub.events.received('left', 1);
    await sub.broker.unsubscribe('left');
    await pub.broker.publish('left', Buffer.from('2'), false);
    await pub.broker.publish('kept', Buffer.from('after'), false);
    // Redis delivers one connection's messages in publication order: 'kept' came after 'left' #2.
    await sub.events.received('kept', 1);
    assert.deepEqual(
      sub.events.of('left').map((m) => m.data.toString()),
      ['1'],
    );
  });

  it('a dropped subscriber connection comes back subscribed; what it missed is in history', async () => {
    const topic = 'dropped';
    const [pub, sub] = [await open(), await open()];
    await sub.broker.subscribe(topic);
    const first = await pub.broker.publish(topic, Buffer.from('before'), false);
    await sub.events.received(topic, 1);
    const admin = createClient({ url: redis.url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
      await sub.events.available(false);
      const missed = await pub.broker.publish(topic, Buffer.from('missed'), false);
      await sub.events.available(true);
      const recovered = await sub.broker.history(topic, first);
      assert.ok(recovered?.some((m) => m.offset === missed.offset && m.data.toString() === 'missed'));
      // Live again without subscribing again.
      const live = await pub.broker.publish(topic, Buffer.from('live'), false);
      await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === live.offset));
      assert.equal(sub.events.of(topic).at(-1)!.data.toString(), 'live');
    } finally {
      await admin.close();
    }
  });

  it('Redis killed: publish and subscribe reject at once; restarted: resubscribed, new epoch caught up, available', async () => {
    const topic = 'outage';
    // A command timeout far beyond the test's: a rejection can only come from the lost connection.
    const slow = { commandTimeoutMs: 3_600_000 };
    const [pub, sub] = [await open(history, slow), await open(history, slow)];
    await sub.broker.subscribe(topic);
    const before = await pub.broker.publish(topic, Buffer.from('before'), false);
    await sub.events.received(topic, 1);

    await redis.kill();
    await Promise.all([pub.events.available(false), sub.events.available(false)]);
    await assert.rejects(pub.broker.publish(topic, Buffer.from('lost'), false), isUnavailable);
    await assert.rejects(pub.broker.position(topic), isUnavailable);
    await assert.rejects(sub.broker.subscribe('while-down'), isUnavailable);

    await redis.start();
    // Published as soon as Redis is back, most likely before `sub` has reconnected: it is in the
    // new epoch's history, and `sub` delivers it when it catches up.
    const late = await open();
    const early = await late.broker.publish(topic, Buffer.from('early'), false);
    await Promise.all([pub.events.available(true), sub.events.available(true)]);
    // Redis ran without persistence: the topic starts a new epoch at offset 1; the old one is gone.
    assert.equal(await pub.broker.history(topic, before), null);
    assert.equal(early.offset, 1);
    assert.notEqual(early.epoch, before.epoch);
    const after = await pub.broker.publish(topic, Buffer.from('after'), false);
    assert.deepEqual(after, { offset: 2, epoch: early.epoch });
    const got = await sub.events.received(topic, 3);
    assert.deepEqual(
      got.map((m) => [m.offset, m.epoch, m.data.toString()]),
      [
        [1, before.epoch, 'before'],
        [1, early.epoch, 'early'],
        [2, early.epoch, 'after'],
      ],
    );
    assert.deepEqual(pub.events.availability, [false, true]);
  });
});

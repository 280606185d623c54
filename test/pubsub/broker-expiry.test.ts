/**
 * What a Redis or NATS broker leaves on its server expires with `history.ttlSeconds`: Redis's
 * history key gets that TTL at each publication, the offset and epoch keys a minute more (also
 * when a subscription makes them, renewed while a process subscribes the topic); a
 * JetStream stream gets `max_age`, also one made before with other bounds (by another process or
 * before a restart). With `ttlSeconds: 0` they are kept (documented in doc/pubsub.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createClient } from 'redis';
import type { HistoryOptions } from '../../src/pubsub/broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { BrokerProcess, BrokerRecorder, poll } from '../support/brokers.js';
import { natsBrokersOfSuite } from './pubsub-support.js';

describe('RedisBroker: keys expire with history.ttlSeconds', () => {
  let server: BrokerProcess;
  let admin: ReturnType<typeof createClient>;
  const brokers: RedisBroker[] = [];
  before(async () => {
    server = await BrokerProcess.redis();
    admin = createClient({ url: server.url });
    admin.on('error', () => {});
    await admin.connect();
  });
  after(async () => {
    for (const b of brokers) await b.close();
    await admin.close();
    await server.stop();
  });

  async function open(history: HistoryOptions) {
    const broker = new RedisBroker({ url: server.url });
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    return { broker, events };
  }

  const keys = (topic: string) => ['o', 'e', 'h'].map((k) => `ws-stream:{${topic}}:${k}`);
  const pttl = async (key: string) => Number(await admin.sendCommand(['PTTL', key]));

  const LINGER = 60_000; // how much longer than history the offset and epoch are kept
  const within = async (key: string, min: number, max: number) => {
    const ms = await pttl(key);
    assert.ok(ms > min && ms <= max, `${key}: PTTL ${ms}, not in (${min}, ${max}]`);
  };

  it('a publication sets the history to expire after ttlSeconds, the offset and epoch a minute later', async () => {
    const { broker } = await open({ size: 10, ttlSeconds: 300 });
    await broker.publish('published', Buffer.from('x'), false);
    const [o, e, h] = keys('published');
    await within(h!, 0, 300_000);
    await within(o!, 300_000 - 5_000, 300_000 + LINGER);
    await within(e!, 300_000 - 5_000, 300_000 + LINGER);
  });

  it('a topic made by a subscription (its position read) expires as well', async () => {
    const { broker } = await open({ size: 10, ttlSeconds: 300 });
    await broker.subscribe('made-by-subscribe');
    await broker.position('made-by-subscribe');
    const [o, e, h] = keys('made-by-subscribe');
    await within(o!, 0, 300_000 + LINGER);
    await within(e!, 0, 300_000 + LINGER);
    assert.equal(await pttl(h!), -2, 'no history before a publication');
  });

  it('with ttlSeconds 0 the keys are kept', async () => {
    const { broker } = await open({ size: 10, ttlSeconds: 0 });
    await broker.publish('kept', Buffer.from('x'), false);
    for (const key of keys('kept')) assert.equal(await pttl(key), -1, key);
  });

  it('a ttlSeconds 0 process sharing a topic with a ttl > 0 one makes its keys persistent (no new epoch)', async () => {
    const { broker: expiring } = await open({ size: 10, ttlSeconds: 300 });
    const { broker: keeping } = await open({ size: 10, ttlSeconds: 0 });
    const topic = 'shared-ttl';
    const first = await expiring.publish(topic, Buffer.from('x'), false);
    const [o, e, h] = keys(topic);
    for (const key of [o!, e!, h!]) assert.ok((await pttl(key)) > 0, `${key} expires after the ttl > 0 publish`);
    const second = await keeping.publish(topic, Buffer.from('y'), false);
    assert.deepEqual(second, { offset: first.offset + 1, epoch: first.epoch });
    for (const key of [o!, e!, h!]) assert.equal(await pttl(key), -1, `${key} persistent after the ttl 0 publish`);
    // The same through a subscription's position read.
    await expiring.publish(topic, Buffer.from('z'), false);
    assert.ok((await pttl(o!)) > 0);
    await keeping.subscribe(topic);
    await keeping.position(topic);
    for (const key of [o!, e!]) assert.equal(await pttl(key), -1, `${key} persistent after the ttl 0 position read`);
  });

  // (Redis may evict one of the pair alone under `maxmemory`, or an operator delete it.)
  for (const [gone, name] of [
    ['o', 'offset'],
    ['e', 'epoch'],
  ] as const) {
    it(`the ${name} key gone alone: the next publication starts a new epoch at offset 1, its history only its own`, async () => {
      const { broker } = await open({ size: 10, ttlSeconds: 0 });
      const topic = `${name}-gone`;
      await broker.publish(topic, Buffer.from('one'), false);
      const old = await broker.publish(topic, Buffer.from('two'), false);
      await admin.sendCommand(['DEL', `ws-stream:{${topic}}:${gone}`]);
      const next = await broker.publish(topic, Buffer.from('new'), false);
      assert.equal(next.offset, 1);
      assert.notEqual(next.epoch, old.epoch);
      const kept = await broker.history(topic, { offset: 0, epoch: next.epoch });
      assert.deepEqual(
        kept?.map((m) => [m.offset, m.data.toString()]),
        [[1, 'new']],
      );
      assert.equal(await broker.history(topic, old), null);
    });
  }

  it('a process that subscribes a topic renews its offset and epoch keys (a quiet topic keeps its epoch)', async (t) => {
    // The renewal's interval (a third of the minute) runs on mocked time: the third of a minute
    // is ticked at once, the commands it sends go to Redis for real.
    t.mock.timers.enable({ apis: ['setInterval'] });
    const { broker } = await open({ size: 10, ttlSeconds: 300 });
    const topic = 'renewed';
    await broker.subscribe(topic);
    await broker.publish(topic, Buffer.from('x'), false);
    const [o, e] = keys(topic);
    await admin.sendCommand(['PERSIST', o!]);
    await admin.sendCommand(['PERSIST', e!]);
    for (const key of [o!, e!]) assert.equal(await pttl(key), -1, `${key} persistent before the renewal`);
    t.mock.timers.tick(LINGER / 3);
    await poll(async () => (await pttl(o!)) > 0 && (await pttl(e!)) > 0);
    await within(o!, 0, 300_000 + LINGER);
  });
});

describe('NatsBroker: streams expire their messages with history.ttlSeconds', () => {
  const { url, open } = natsBrokersOfSuite();

  /** The bounds of every stream on the server, by name. */
  async function streamLimits(): Promise<{ max_age: number; max_msgs: number }[]> {
    const nc = await connect({ servers: url() });
    try {
      const jsm = await jetstreamManager(nc);
      const out: { max_age: number; max_msgs: number }[] = [];
      for await (const s of jsm.streams.list()) out.push({ max_age: s.config.max_age, max_msgs: s.config.max_msgs });
      return out;
    } finally {
      await nc.close();
    }
  }

  it('a stream made with another TTL (or none) takes this process’s bounds', async () => {
    const old = await open({ size: 5, ttlSeconds: 0 });
    await old.publish('topic', Buffer.from('x'), false);
    assert.deepEqual(await streamLimits(), [{ max_age: 0, max_msgs: 5 }]);
    await old.close();
    const renewed = await open({ size: 7, ttlSeconds: 2 });
    const at = await renewed.publish('topic', Buffer.from('y'), false);
    assert.equal(at.offset, 2, 'the same stream, its history kept');
    assert.deepEqual(await streamLimits(), [{ max_age: 2e9, max_msgs: 7 }]);
  });
});

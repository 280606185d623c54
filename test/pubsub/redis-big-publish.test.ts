/**
 * RedisBroker with messages over 1 MiB (the least `proto-max-bulk-len` Redis takes), against a real
 * redis-server: publish order is offset order for one caller, and the limit is read under RESP2 and
 * RESP3 alike.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createClient } from 'redis';
import { WebSocketError } from '../../src/errors.js';
import { PubSub } from '../../src/pubsub/index.js';
import { RedisBroker, type RedisBrokerOptions } from '../../src/pubsub/redis-broker.js';
import { BrokerProcess, BrokerRecorder } from '../support/brokers.js';

const big = (fill: number): Buffer => Buffer.alloc(2 * 1024 * 1024 + fill, 0x61 + fill);

/** Publishes big, small, big, small… without waiting between them; returns the offsets in call order. */
async function interleaved(broker: RedisBroker, topic: string): Promise<number[]> {
  const publishes: Promise<{ offset: number }>[] = [];
  for (let i = 0; i < 6; i++) {
    publishes.push(broker.publish(topic, i % 2 === 0 ? big(i) : Buffer.from(`small ${i}`), false));
  }
  return (await Promise.all(publishes)).map((p) => p.offset);
}

describe('RedisBroker: messages over 1 MiB', () => {
  const servers: BrokerProcess[] = [];
  const brokers: RedisBroker[] = [];
  after(async () => {
    for (const b of brokers) await b.close();
    for (const s of servers) await s.stop();
  });
  async function open(options: RedisBrokerOptions): Promise<{ broker: RedisBroker; events: BrokerRecorder }> {
    const broker = new RedisBroker(options);
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, { size: 100, ttlSeconds: 60 });
    return { broker, events };
  }

  it('a big publish then smaller ones take offsets in call order, after open and after a reconnection', async () => {
    const server = await BrokerProcess.redis();
    servers.push(server);
    const { broker, events } = await open({ url: server.url });
    assert.deepEqual(await interleaved(broker, 't'), [1, 2, 3, 4, 5, 6]);
    // Right after node-redis reconnects, the limit is read again.
    const admin = createClient({ url: server.url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal']);
    } finally {
      await admin.close();
    }
    await events.available(false);
    await events.available(true);
    assert.deepEqual(await interleaved(broker, 't'), [7, 8, 9, 10, 11, 12]);
    const history = await broker.history('t', { offset: 0, epoch: (await broker.position('t')).epoch });
    assert.deepEqual(
      history?.map((m) => m.data.length),
      [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5].map((i) => (i % 2 === 0 ? big(i).length : `small ${i}`.length)),
    );
  });

  it('through PubSub: a big publish and the one made after it take offsets in call order', async () => {
    const server = await BrokerProcess.redis();
    servers.push(server);
    const pubsub = new PubSub({ broker: new RedisBroker(server.url) });
    try {
      const first = pubsub.publish('u', 'x'.repeat(2 * 1024 * 1024));
      const second = pubsub.publish('u', 'after');
      const [a, b] = await Promise.all([first, second]);
      assert.ok(a.offset < b.offset, `first ${a.offset}, second ${b.offset}`);
    } finally {
      await pubsub.close();
    }
  });

  for (const RESP of [2, 3]) {
    it(`RESP${RESP}: over proto-max-bulk-len is refused (ERR_WS_MESSAGE_TOO_BIG), the connection kept`, async () => {
      const server = await BrokerProcess.redis({ args: ['--proto-max-bulk-len', '1mb'] });
      servers.push(server);
      const { broker, events } = await open({ url: server.url, clientOptions: { RESP } });
      const tooBig = broker.publish('t', big(0), false);
      const small = broker.publish('t', Buffer.from('fits'), false);
      await assert.rejects(
        tooBig,
        (err: unknown) => err instanceof WebSocketError && err.code === 'ERR_WS_MESSAGE_TOO_BIG',
      );
      assert.equal((await small).offset, 1);
      assert.equal((await broker.publish('t', Buffer.alloc(1024 * 1024), false)).offset, 2);
      // Redis never dropped the connection (an over-long argument is a protocol error to it).
      assert.deepEqual(events.availability, []);
    });
  }
});

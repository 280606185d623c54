/**
 * A broker connection stalled (no byte passes either way, the sockets stay open) and then resumed
 * before the keep-alive notices it (`pingIntervalMs` made long here; a stall that is noticed is
 * test/pubsub/fault-stall-lost.test.ts), for Redis and NATS: while stalled, publish rejects with
 * ERR_WS_BROKER_UNAVAILABLE once `commandTimeoutMs` passes; once resumed, the subscriber behind the
 * stall has every message once, in offset order, with no gap, without subscribing again. A TCP
 * proxy in front of the server stalls the subscriber process's connections.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createClient } from 'redis';
import type { Broker, TopicPosition } from '../../src/pubsub/broker.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder } from '../support/brokers.js';

const cases = [
  {
    name: 'RedisBroker',
    scheme: 'redis',
    start: () => BrokerProcess.redis(),
    create: (url: string, commandTimeoutMs: number): Broker =>
      new RedisBroker({ url, commandTimeoutMs, pingIntervalMs: 600_000 }),
    /** How many connections the server has subscribed to `topic`'s channel. */
    subscribed: async (url: string, topic: string): Promise<number> => {
      const admin = createClient({ url });
      admin.on('error', () => {});
      await admin.connect();
      try {
        const reply = (await admin.sendCommand(['PUBSUB', 'NUMSUB', `ws-stream:${topic}`])) as [string, number];
        return reply[1];
      } finally {
        admin.destroy();
      }
    },
  },
  {
    name: 'NatsBroker',
    scheme: 'nats',
    start: () => BrokerProcess.nats(),
    create: (url: string, commandTimeoutMs: number): Broker =>
      new NatsBroker({ url, commandTimeoutMs, pingIntervalMs: 600_000 }),
    subscribed: undefined,
  },
];

for (const c of cases) {
  describe(`${c.name}: a stalled connection, then resumed`, () => {
    const brokers: Broker[] = [];
    const env = brokerBehindProxy(c.start, brokers);

    async function open(url: string, commandTimeoutMs: number) {
      const broker = c.create(url, commandTimeoutMs);
      brokers.push(broker);
      const events = new BrokerRecorder();
      await broker.open(events, history);
      return { broker, events };
    }

    it('publish rejects while stalled; once resumed every message arrives once, in order', async () => {
      const topic = 'stalled';
      // The deadline is what fails the stalled publish (its length only decides when).
      const sub = await open(env.proxy.url(c.scheme), 500);
      const pub = await open(env.server.url, 600_000);
      await sub.broker.subscribe(topic);
      const first = await pub.broker.position(topic);
      const acked: TopicPosition[] = [await pub.broker.publish(topic, Buffer.from('m'), false)];
      await sub.events.received(topic, 1);

      for (const link of env.proxy.links) link.stall();
      for (let i = 0; i < 5; i++) acked.push(await pub.broker.publish(topic, Buffer.from('m'), false));
      await assert.rejects(sub.broker.publish(topic, Buffer.from('stalled'), false), {
        code: 'ERR_WS_BROKER_UNAVAILABLE',
      });
      await assert.rejects(sub.broker.subscribe('other'), { code: 'ERR_WS_BROKER_UNAVAILABLE' });
      assert.equal(sub.events.of(topic).length, 1);

      for (const link of env.proxy.links) link.release();
      acked.push(await pub.broker.publish(topic, Buffer.from('m'), false));
      const last = acked.at(-1)!;
      await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === last.offset));
      const got = sub.events.of(topic);
      // The stalled publish may have been stored once its bytes got through: its offset then
      // comes in order with the others.
      assert.ok(got.every((m) => m.epoch === first.epoch));
      assert.deepEqual(
        got.map((m) => m.offset),
        Array.from({ length: got.length }, (_, i) => first.offset + i + 1),
      );
      for (const at of acked) assert.ok(got.some((m) => m.offset === at.offset && m.data.toString() === 'm'));
      // And the subscriber's own publications work again.
      const own = await sub.broker.publish(topic, Buffer.from('own'), false);
      await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === own.offset));
      // The subscription refused while stalled was left once its answer came: a subscription
      // made now is answered after both commands, written before it on the same connection.
      await sub.broker.subscribe('probe');
      if (c.subscribed) assert.equal(await c.subscribed(env.server.url, 'other'), 0);
    });
  });
}

describe('NatsBroker: a history read that stalls', () => {
  const brokers: Broker[] = [];
  const env = brokerBehindProxy(() => BrokerProcess.nats(), brokers);

  it('rejects with ERR_WS_BROKER_UNAVAILABLE (never null, which would mean history cannot cover it); once resumed it is exact', async () => {
    const topic = 'stalled-history';
    const reader = new NatsBroker({ url: env.proxy.url('nats'), commandTimeoutMs: 500, pingIntervalMs: 600_000 });
    const pub = new NatsBroker(env.server.url);
    brokers.push(reader, pub);
    await reader.open(new BrokerRecorder(), history);
    await pub.open(new BrokerRecorder(), history);
    const sent: TopicPosition[] = [];
    for (let i = 1; i <= 5; i++) sent.push(await pub.publish(topic, Buffer.from(`m${i}`), false));
    const since = { offset: 2, epoch: sent[0]!.epoch };

    // The reader's request for the messages (a pull of its consumer) never reaches the server.
    const [link] = env.proxy.links;
    assert.ok(link);
    link.holdClientFrom('MSG.NEXT');
    await assert.rejects(reader.history(topic, since), { code: 'ERR_WS_BROKER_UNAVAILABLE' });
    link.release();
    assert.deepEqual(
      (await reader.history(topic, since))?.map((m) => [m.offset, m.data.toString()]),
      [
        [3, 'm3'],
        [4, 'm4'],
        [5, 'm5'],
      ],
    );
  });
});

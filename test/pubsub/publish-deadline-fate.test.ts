/**
 * A publish whose answer does not come within `commandTimeoutMs` (the broker slow, paused, or its
 * link stalled) is refused with ERR_WS_BROKER_UNAVAILABLE, yet the server may still store and
 * deliver it: its error says so ("the message may have been stored"), as one refused at a
 * connection's loss does. Before, it said only `Redis: no reply within N ms` (NATS: `timeout`), and
 * a client that took that for "not published" and sent it again had it twice. A TCP proxy in front
 * of a real redis-server / nats-server stalls the publisher's connections, then lets them through:
 * the refused message is delivered, in its place.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Broker } from '../../src/pubsub/broker.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder } from '../support/brokers.js';

const MS = 300;
const cases = [
  {
    name: 'RedisBroker',
    scheme: 'redis',
    start: () => BrokerProcess.redis(),
    create: (url: string, commandTimeoutMs: number): Broker =>
      new RedisBroker({ url, commandTimeoutMs, pingIntervalMs: 600_000 }),
    said: new RegExp(`: Redis: no reply within ${MS} ms: the message may have been stored$`),
  },
  {
    name: 'NatsBroker',
    scheme: 'nats',
    start: () => BrokerProcess.nats(),
    create: (url: string, commandTimeoutMs: number): Broker =>
      new NatsBroker({ url, commandTimeoutMs, pingIntervalMs: 600_000 }),
    said: new RegExp(`: no acknowledgement within ${MS} ms: the message may have been stored$`),
  },
];

for (const c of cases) {
  describe(`${c.name}: a publish not answered within commandTimeoutMs`, () => {
    const brokers: Broker[] = [];
    const env = brokerBehindProxy(c.start, brokers);

    it('is refused saying the message may have been stored; it is, and is delivered in its place', async () => {
      const topic = 'late';
      const publisher = c.create(env.proxy.url(c.scheme), MS);
      const watcher = c.create(env.server.url, 600_000);
      brokers.push(publisher, watcher);
      const events = new BrokerRecorder();
      await publisher.open(new BrokerRecorder(), history);
      await watcher.open(events, history);
      await watcher.subscribe(topic);
      const first = await publisher.publish(topic, Buffer.from('first'), false);
      await events.received(topic, 1);

      for (const link of env.proxy.links) link.stall();
      await assert.rejects(publisher.publish(topic, Buffer.from('late'), false), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_WS_BROKER_UNAVAILABLE');
        assert.match(err.message, c.said);
        return true;
      });
      for (const link of env.proxy.links) link.release();

      const after = await publisher.publish(topic, Buffer.from('after'), false);
      await events.until(() => events.of(topic).some((m) => m.offset === after.offset));
      assert.deepEqual(
        events.of(topic).map((m) => [m.offset, m.data.toString()]),
        [
          [first.offset, 'first'],
          [first.offset + 1, 'late'],
          [first.offset + 2, 'after'],
        ],
      );
    });
  });
}

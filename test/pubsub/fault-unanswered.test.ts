/**
 * A broker server that takes TCP connections and never answers on them (a TCP proxy in front of the
 * real server holds every byte of the connections it is told to hold), for Redis and NATS:
 * - `open()` still settles (unavailable, connecting in the background) instead of waiting forever,
 *   and the broker becomes available once connections get through;
 * - a reconnection whose connection is never answered is given up and made again, so the broker
 *   comes back once new connections get through, with what it missed, in order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Broker } from '../../src/pubsub/broker.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder, type ProxyLink } from '../support/brokers.js';

const cases = [
  {
    name: 'RedisBroker',
    scheme: 'redis',
    start: () => BrokerProcess.redis(),
    create: (url: string): Broker =>
      new RedisBroker({ url, commandTimeoutMs: 1000, reconnectMaxDelayMs: 100, pingIntervalMs: 50 }),
  },
  {
    name: 'NatsBroker',
    scheme: 'nats',
    start: () => BrokerProcess.nats(),
    create: (url: string): Broker => new NatsBroker({ url, commandTimeoutMs: 1000, reconnectTimeWaitMs: 50 }),
  },
];

for (const c of cases) {
  describe(`${c.name}: a server that takes connections and never answers`, () => {
    const brokers: Broker[] = [];
    const env = brokerBehindProxy(c.start, brokers);

    async function open(url: string) {
      const broker = c.create(url);
      brokers.push(broker);
      const events = new BrokerRecorder();
      await broker.open(events, history);
      return { broker, events };
    }

    it('open() settles, unavailable; available once connections get through', { timeout: 60_000 }, async () => {
      env.proxy.holding = true;
      const held = new Set<ProxyLink>();
      let sub: Awaited<ReturnType<typeof open>>;
      try {
        sub = await open(env.proxy.url(c.scheme));
      } finally {
        for (const link of env.proxy.links) held.add(link);
        env.proxy.holding = false;
      }
      assert.deepEqual(sub.events.availability, [false]);
      await assert.rejects(sub.broker.publish('t', Buffer.from('x'), false), { code: 'ERR_WS_BROKER_UNAVAILABLE' });
      // The held connections stay held: the broker comes through new ones.
      await sub.events.available(true);
      const pub = await open(env.server.url);
      await sub.broker.subscribe('t');
      const at = await pub.broker.publish('t', Buffer.from('y'), false);
      const [m] = await sub.events.received('t', 1);
      assert.deepEqual([m!.offset, m!.data.toString()], [at.offset, 'y']);
      for (const link of held) link.destroy();
    });

    it('a reconnection never answered is made again; back with what it missed, in order', {
      timeout: 60_000,
    }, async () => {
      const topic = 'unanswered';
      const sub = await open(env.proxy.url(c.scheme));
      const pub = await open(env.server.url);
      await sub.broker.subscribe(topic);
      const first = await pub.broker.publish(topic, Buffer.from('one'), false);
      await sub.events.received(topic, 1);

      // Cut: the reconnection's connection is taken and never answered.
      const old = new Set(env.proxy.links);
      env.proxy.holding = true;
      const reports = sub.events.availability.length;
      for (const link of old) link.destroy();
      const hung = await env.proxy.until(() => [...env.proxy.links].find((l) => !old.has(l)));
      env.proxy.holding = false;
      await sub.events.until(() => sub.events.availability.slice(reports).includes(false));
      const missed = await pub.broker.publish(topic, Buffer.from('two'), false);

      await sub.events.until(() => sub.events.availability.at(-1) === true);
      const live = await pub.broker.publish(topic, Buffer.from('three'), false);
      await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === live.offset));
      assert.deepEqual(
        sub.events.of(topic).map((m) => [m.offset, m.epoch, m.data.toString()]),
        [
          [first.offset, first.epoch, 'one'],
          [missed.offset, first.epoch, 'two'],
          [live.offset, first.epoch, 'three'],
        ],
      );
      hung.destroy();
    });
  });
}

/**
 * A broker connection that stays open but stops answering (a TCP proxy in front of the real server
 * passes no byte either way) is noticed by the broker's keep-alive (`pingIntervalMs`, made small
 * here) and treated as lost, for Redis and NATS: `'availability'` reports false, `publish` rejects
 * with ERR_WS_BROKER_UNAVAILABLE, the WebSocket subscriber stays connected; once new connections
 * get through, the broker reconnects by itself, reports true, and the subscriber receives every
 * message acknowledged meanwhile (from history) and after, once each, in offset order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Broker, BrokerMessage, TopicPosition } from '../../src/pubsub/broker.js';
import { PubSub } from '../../src/pubsub/index.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { BrokerProcess, brokerBehindProxy, type ProxyLink } from '../support/brokers.js';
import { JsonClient, once, startTestServer } from './pubsub-support.js';

const cases = [
  {
    name: 'RedisBroker',
    scheme: 'redis',
    start: () => BrokerProcess.redis(),
    // A PING every 100 ms, one unanswered for 2 s: the stall is noticed by it (and a slow machine
    // does not pass for a stall).
    stallable: (url: string): Broker => new RedisBroker({ url, pingIntervalMs: 100, commandTimeoutMs: 2000 }),
    plain: (url: string): Broker => new RedisBroker(url),
  },
  {
    name: 'NatsBroker',
    scheme: 'nats',
    start: () => BrokerProcess.nats(),
    // Two PINGs unanswered at the third (every 500 ms): the client drops the connection.
    stallable: (url: string): Broker => new NatsBroker({ url, pingIntervalMs: 500, maxPingOut: 2 }),
    plain: (url: string): Broker => new NatsBroker(url),
  },
];

const format = (m: BrokerMessage): string =>
  JSON.stringify({ data: m.data.toString(), offset: m.offset, epoch: m.epoch });
const expected = (at: TopicPosition, data: string) => ({ data, offset: at.offset, epoch: at.epoch });

for (const c of cases) {
  describe(`${c.name}: a stalled connection is noticed and treated as lost`, () => {
    const env = brokerBehindProxy(c.start);

    it('unavailable while stalled, local connections stay; back by itself, every acknowledged message once, in order', {
      timeout: 120_000,
    }, async (t) => {
      const topic = 'stall-lost';
      const web = await startTestServer();
      const receiving = new PubSub({ broker: c.stallable(env.proxy.url(c.scheme)), format });
      const sending = new PubSub({ broker: c.plain(env.server.url) });
      t.after(async () => {
        await Promise.all([receiving.close(), sending.close()]);
        await web.close();
      });
      const client = await JsonClient.connect(web.port);
      const { ws } = await web.next();
      await receiving.subscribe(ws, topic);
      const first = await sending.publish(topic, 'before');
      assert.deepEqual(await client.next(), expected(first, 'before'));

      // The links in place pass nothing more; new ones are held until the test lets them through.
      const stalled = new Set<ProxyLink>(env.proxy.links);
      assert.ok(stalled.size > 0);
      env.proxy.holding = true;
      const down = once<boolean>(receiving, 'availability');
      for (const link of stalled) link.stall();
      assert.equal(await down, false);
      assert.equal(receiving.brokerAvailable, false);
      await assert.rejects(receiving.publish(topic, 'refused'), { code: 'ERR_WS_BROKER_UNAVAILABLE' });
      const missed: TopicPosition[] = [];
      for (let i = 0; i < 5; i++) missed.push(await sending.publish(topic, `missed ${i}`));
      assert.equal(client.ended, false, 'the WebSocket stays connected');

      // The link works again: what is held goes through, and new connections pass.
      const up = once<boolean>(receiving, 'availability');
      env.proxy.holding = false;
      for (const link of env.proxy.links) if (!stalled.has(link)) link.release();
      assert.equal(await up, true);
      const live = await sending.publish(topic, 'live');
      const own = await receiving.publish(topic, 'own');
      const got = [];
      for (let i = 0; i < missed.length + 2; i++) got.push(await client.next());
      assert.deepEqual(got, [
        ...missed.map((at, i) => expected(at, `missed ${i}`)),
        expected(live, 'live'),
        expected(own, 'own'),
      ]);
      assert.deepEqual(
        got.map((m) => (m as { offset: number }).offset),
        Array.from({ length: got.length }, (_, i) => first.offset + 1 + i),
      );
      assert.equal(client.ended, false);
      client.close();
    });
  });
}

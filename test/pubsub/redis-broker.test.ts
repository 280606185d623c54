/** RedisBroker against a real redis-server started here: offsets, order, history, epoch, outages. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createClient } from 'redis';
import { RedisBroker, type RedisBrokerOptions } from '../../src/pubsub/redis-broker.js';
import { brokerSuite, caughtUpInNewEpoch, publishOnRestart } from '../support/broker-suite.js';
import { BrokerProcess } from '../support/brokers.js';

brokerSuite<RedisBroker, RedisBrokerOptions>({
  name: 'RedisBroker',
  create: (config) => new RedisBroker(config),
  start: () => BrokerProcess.redis(),
  scheme: 'redis',
  serverName: 'Redis',
  foreignUrl: 'http://127.0.0.1:1',
  outage: {
    title:
      'Redis killed: publish and subscribe reject at once; restarted: resubscribed, new epoch caught up, available',
    async restarted(r) {
      const early = await publishOnRestart(r);
      // Redis ran without persistence: the topic starts a new epoch at offset 1; the old one is gone.
      assert.equal(await r.pub.broker.history(r.topic, r.before), null);
      await caughtUpInNewEpoch(r, early);
    },
  },
  specific(suite) {
    it('a dropped subscriber connection comes back subscribed; what it missed is in history', async () => {
      const { open, server } = suite;
      const topic = 'dropped';
      const [pub, sub] = [await open(), await open()];
      await sub.broker.subscribe(topic);
      const first = await pub.broker.publish(topic, Buffer.from('before'), false);
      await sub.events.received(topic, 1);
      const admin = createClient({ url: server.url });
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

    it('a live message past a hole (an offset stored whose publication never came here) waits for the hole, read from history', async () => {
      const { open, server } = suite;
      const topic = 'hole';
      const [pub, sub] = [await open(), await open()];
      await sub.broker.subscribe(topic);
      await sub.broker.position(topic);
      const first = await pub.broker.publish(topic, Buffer.from('one'), false);
      await sub.events.received(topic, 1);
      // Offset 2 taken and kept in history as the publish script does, its PUBLISH never sent.
      const admin = createClient({ url: server.url });
      admin.on('error', () => {});
      await admin.connect();
      try {
        const base = `ws-stream:{${topic}}`;
        assert.equal(await admin.sendCommand(['INCR', `${base}:o`]), 2);
        await admin.sendCommand(['XADD', `${base}:h`, '2-0', 'd', 'two', 'b', '0', 't', '0', 'n', '6']);
      } finally {
        await admin.close();
      }
      const third = await pub.broker.publish(topic, Buffer.from('three'), false);
      assert.deepEqual(third, { offset: 3, epoch: first.epoch });
      await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === 3));
      assert.deepEqual(
        sub.events.of(topic).map((m) => [m.offset, m.epoch, m.data.toString()]),
        [
          [1, first.epoch, 'one'],
          [2, first.epoch, 'two'],
          [3, first.epoch, 'three'],
        ],
      );
    });
  },
});

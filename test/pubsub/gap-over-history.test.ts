/**
 * A broker back after its link was lost while more was published to a topic than its history
 * holds: the gap is filled with what history still holds, and only the older messages are lost
 * (doc/pubsub.md, *One ordered path per topic*). RedisBroker and NatsBroker skipped the whole gap
 * instead — history no longer held it whole, so nothing of it was read — and went on from the next
 * live message: found by test/pubsub/chaos-redis.test.ts (PUBSUB_SEED=42 PUBSUB_STEPS=30: a
 * subscriber on a process whose link was cut got offset 19 after 8, with `--history 8`). The link
 * is cut at a TCP proxy; every wait is for an event the broker reports.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Broker, BrokerMessage, HistoryOptions } from '../../src/pubsub/broker.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { BrokerProcess, BrokerRecorder, brokerBehindProxy } from '../support/brokers.js';

const HISTORY: HistoryOptions = { size: 3, ttlSeconds: 0 };

const rows = (messages: BrokerMessage[]): [number, string][] => messages.map((m) => [m.offset, m.data.toString()]);

for (const kind of ['redis', 'nats'] as const) {
  describe(`${kind === 'redis' ? 'RedisBroker' : 'NatsBroker'}: a gap longer than history is filled with what history still holds`, () => {
    const env = brokerBehindProxy(() => (kind === 'redis' ? BrokerProcess.redis() : BrokerProcess.nats()));

    /** An open broker with a recorder of its events, closed after the test. */
    async function open(t: TestContext, url: string): Promise<{ broker: Broker; events: BrokerRecorder }> {
      // (No keep-alive gets in the way: the link is cut when the test says.)
      const options = { url, pingIntervalMs: 600_000 };
      const broker = kind === 'redis' ? new RedisBroker(options) : new NatsBroker(options);
      t.after(() => broker.close());
      const events = new BrokerRecorder();
      await broker.open(events, HISTORY);
      return { broker, events };
    }

    it('the link cut while 6 are published (history 3): the last 3 of them, then live, in order', async (t) => {
      const topic = 'gap-over-history';
      const sub = await open(t, env.proxy.url(kind)); // its connections go through the proxy
      const pub = await open(t, env.server.url);
      await sub.broker.subscribe(topic);
      await pub.broker.publish(topic, Buffer.from('m1'), false);
      await sub.events.received(topic, 1);

      // The link cut: every connection through the proxy destroyed, new ones held.
      env.proxy.cut();
      await sub.events.available(false);
      for (let i = 2; i <= 7; i++) await pub.broker.publish(topic, Buffer.from(`m${i}`), false);
      // Back: history holds 5, 6, 7 (2, 3, 4 trimmed).
      env.proxy.restore();
      await sub.events.available(true);
      await pub.broker.publish(topic, Buffer.from('m8'), false);
      await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === 8));
      assert.deepEqual(rows(sub.events.of(topic)), [
        [1, 'm1'],
        [5, 'm5'],
        [6, 'm6'],
        [7, 'm7'],
        [8, 'm8'],
      ]);
    });
  });
}

describe('NatsBroker with no history (`--history 0`): what was published while its link was cut is given up at once', () => {
  const env = brokerBehindProxy(() => BrokerProcess.nats());

  // Before, the next live message waited `commandTimeoutMs` behind the gap, taken for a late
  // republication (doc/pubsub.md): none can come of what was published while this process was away.
  // Its wait is made longer than the runner's timeout here, so that waiting fails the test.
  it('the link cut while 3 are published: the next live one delivered, no wait', { timeout: 60_000 }, async (t) => {
    const topic = 'gap-no-history';
    const none: HistoryOptions = { size: 0, ttlSeconds: 0 };
    const sub = new NatsBroker({ url: env.proxy.url('nats'), pingIntervalMs: 600_000, commandTimeoutMs: 600_000 });
    const pub = new NatsBroker({ url: env.server.url, pingIntervalMs: 600_000 });
    t.after(async () => {
      await sub.close();
      await pub.close();
    });
    const events = new BrokerRecorder();
    await sub.open(events, none);
    await pub.open(new BrokerRecorder(), none);
    await sub.subscribe(topic);
    await pub.publish(topic, Buffer.from('m1'), false);
    await events.received(topic, 1);

    env.proxy.cut();
    await events.available(false);
    for (let i = 2; i <= 4; i++) await pub.publish(topic, Buffer.from(`m${i}`), false);
    env.proxy.restore();
    await events.available(true);
    await pub.publish(topic, Buffer.from('m5'), false);
    await events.received(topic, 2);
    assert.deepEqual(rows(events.of(topic)), [
      [1, 'm1'],
      [5, 'm5'],
    ]);
  });
});

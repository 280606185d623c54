/**
 * After a broker outage a topic reads what it missed from history and then delivers the live
 * messages it held during that read. Before, those held messages went through the live path: a
 * subscriber still being replayed the missed messages held them counted toward its backlog cap,
 * so a burst during the read closed it 1008 ('close') or skipped messages ('drop') — for the
 * broker's outage, not for being slow (it reads all the while). Now the missed and the held are
 * one catch-up, replayed as its socket drains, as recovered history is.
 *
 * The broker is the MemoryBroker behind a gate (test/pubsub/gated-broker.ts): the outage, and a
 * burst published while the catch-up's history read is under way, happen deterministically. And
 * Redis behind a TCP proxy: the RedisBroker reads what its topics missed itself, and delivers it
 * before it reports available again, in one turn — then the live path, whose cap closed a reading
 * subscriber when more than its cap was missed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DropEvent, PubSub } from '../../src/pubsub/index.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { BrokerProcess, brokerBehindProxy } from '../support/brokers.js';
import { gatedPubSub } from './gated-broker.js';
import { readUntil, serverFor, turnEnd } from './pubsub-support.js';

const MAX_BYTES = 64 * 1024;
const SIZE = 1000;
const MISSED = 100; // published while the link is down: 100 KB, over the cap
const DURING_READ = 100; // published while the catch-up reads history: 100 KB more

const payload = (tag: string, i: number): string => `${tag}${i}:`.padEnd(SIZE, '.');

describe('the catch-up after a broker outage is paced like recovery, not held to the cap', () => {
  for (const policy of ['close', 'drop'] as const) {
    it(`'${policy}': what was missed, then what came during the read: all of it, in order, no drop, not closed`, async (t) => {
      const { gated, ps, pair } = await gatedPubSub(t, { slowSubscriber: { maxBytes: MAX_BYTES, policy } });
      const { client, ws } = await pair();
      const drops: DropEvent[] = [];
      ps.on('drop', (e) => drops.push(e));
      // (A message skipped would never be read: the first drop ends the wait.)
      const dropped = new Promise<never>((_, reject) =>
        ps.once('drop', (e) => reject(new Error(`offset ${e.offset} dropped (${e.policy})`))),
      );
      dropped.catch(() => {});
      const availability: boolean[] = [];
      ps.on('availability', (a) => availability.push(a));
      await ps.subscribe(ws, 't');
      await ps.publish('t', payload('t', 1));
      assert.deepEqual(await readUntil(client, 't1'), { tags: ['t1'], close: null });

      gated.down();
      for (let i = 2; i <= 1 + MISSED; i++) await gated.inner.publish('t', Buffer.from(payload('t', i)), false);
      const reading = gated.gate('answer');
      gated.up(); // the topic reads what it missed…
      await reading;
      // …and holds what comes meanwhile.
      const last = 1 + MISSED + DURING_READ;
      for (let i = 2 + MISSED; i <= last; i++) await ps.publish('t', payload('t', i));
      await turnEnd();
      gated.open();
      const got = await Promise.race([readUntil(client, `t${last}`), dropped]);
      assert.equal(got.close, null, 'not closed');
      assert.deepEqual(
        got.tags,
        Array.from({ length: last - 1 }, (_, i) => `t${i + 2}`),
      );
      assert.deepEqual(drops, []);
      assert.deepEqual(availability, [false, true]);
      // Then live delivery goes on.
      await ps.publish('t', payload('end', 0));
      assert.deepEqual(await readUntil(client, 'end0'), { tags: ['end0'], close: null });
    });
  }
});

describe('RedisBroker: what it catches up before it reports available again is paced too', () => {
  const env = brokerBehindProxy(() => BrokerProcess.redis());

  for (const policy of ['close', 'drop'] as const) {
    it(`'${policy}': 100 KB missed under a 64 KiB cap, delivered whole, in order, to a subscriber that reads`, async (t) => {
      const history = { size: 1000, ttlSeconds: 0 };
      // (No keep-alive gets in the way: the link is cut when the test says.)
      const broker = new RedisBroker({ url: env.proxy.url('redis'), pingIntervalMs: 600_000 });
      const ps = new PubSub({ broker, history, slowSubscriber: { maxBytes: MAX_BYTES, policy } });
      const pub = new RedisBroker({ url: env.server.url, pingIntervalMs: 600_000 });
      t.after(() => pub.close());
      const { pair } = await serverFor(t, ps);
      await pub.open({ onMessage: () => {}, onAvailability: () => {} }, history);
      const topic = `catch-up-${policy}`;
      const { client, ws } = await pair();
      const drops: DropEvent[] = [];
      ps.on('drop', (e) => drops.push(e));
      const dropped = new Promise<never>((_, reject) =>
        ps.once('drop', (e) => reject(new Error(`offset ${e.offset} dropped (${e.policy})`))),
      );
      dropped.catch(() => {});
      const availability = (want: boolean): Promise<void> =>
        new Promise((resolve) => {
          const on = (a: boolean): void => {
            if (a !== want) return;
            ps.off('availability', on);
            resolve();
          };
          ps.on('availability', on);
        });
      await ps.subscribe(ws, topic);
      await pub.publish(topic, Buffer.from(payload('t', 1)), false);
      assert.deepEqual(await readUntil(client, 't1'), { tags: ['t1'], close: null });

      const lost = availability(false);
      env.proxy.cut();
      await lost;
      const last = 1 + MISSED;
      for (let i = 2; i <= last; i++) await pub.publish(topic, Buffer.from(payload('t', i)), false);
      const back = availability(true);
      env.proxy.restore();
      await back;
      const got = await Promise.race([readUntil(client, `t${last}`), dropped]);
      assert.deepEqual(got, { tags: Array.from({ length: last - 1 }, (_, i) => `t${i + 2}`), close: null });
      await pub.publish(topic, Buffer.from(payload('end', 0)), false);
      assert.deepEqual(await Promise.race([readUntil(client, 'end0'), dropped]), { tags: ['end0'], close: null });
      assert.deepEqual(drops, []);
    });
  }
});

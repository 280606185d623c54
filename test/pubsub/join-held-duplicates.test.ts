/**
 * Live messages held while a subscription joins (its broker subscription is live, its position or
 * history is still being read: a round trip to the cluster primary or Redis) are often ones it
 * will never get from the hold: published before its start, or read in its history. Before, they
 * counted toward its backlog cap as they came: a burst during the join closed a subscriber 1008
 * ('close') or raised 'drop' events ('drop') for bytes it would never be sent. Now they are let go
 * uncounted once the join knows its start, and only what is left is held to the cap.
 *
 * The broker is the MemoryBroker behind a gate that holds its position or history answer until the
 * test has published the burst: the interleaving of a slow round trip, chosen deterministically.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DropEvent } from '../../src/pubsub/index.js';
import { gatedPubSub } from './gated-broker.js';
import { readUntil, turnEnd } from './pubsub-support.js';

const MAX_BYTES = 64 * 1024;
const SIZE = 1000;
const BURST = 100; // 100 KB: over the cap

const payload = (tag: string, i: number): string => `${tag}${i}:`.padEnd(SIZE, '.');

const tags = (tag: string, from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `${tag}${from + i}`);

describe('messages held while a subscription joins count toward its cap only if it will get them', () => {
  for (const policy of ['close', 'drop'] as const) {
    it(`'${policy}': a burst while history is read (all of it in the history) neither drops nor closes; history whole, in order`, async (t) => {
      const { gated, ps, pair } = await gatedPubSub(t, { slowSubscriber: { maxBytes: MAX_BYTES, policy } });
      let at = { offset: 0, epoch: '' };
      for (let i = 1; i <= 10; i++) at = await ps.publish('h', payload('h', i));
      const { client, ws } = await pair();
      const drops: DropEvent[] = [];
      ps.on('drop', (e) => drops.push(e));
      const reading = gated.gate('history');
      const subscribed = ps.subscribe(ws, 'h', { since: { offset: 0, epoch: at.epoch } });
      await reading;
      // Delivered live (held for the joining subscriber) and stored before history is read.
      for (let i = 11; i <= 10 + BURST; i++) await ps.publish('h', payload('h', i));
      await turnEnd();
      gated.open();
      assert.deepEqual(await subscribed, { offset: 0, epoch: at.epoch, recovered: true });
      const got = await readUntil(client, `h${10 + BURST}`);
      assert.deepEqual(got, { tags: tags('h', 1, 10 + BURST), close: null });
      await ps.publish('h', payload('end', 0));
      assert.deepEqual(await readUntil(client, 'end0'), { tags: ['end0'], close: null });
      assert.deepEqual(drops, []);
      assert.equal(ps.dropped, 0);
    });

    it(`'${policy}': a burst while the position is read (all of it before the start) is never counted`, async (t) => {
      const { gated, ps, pair } = await gatedPubSub(t, { slowSubscriber: { maxBytes: MAX_BYTES, policy } });
      const { client, ws } = await pair();
      const drops: DropEvent[] = [];
      ps.on('drop', (e) => drops.push(e));
      const reading = gated.gate('position');
      const subscribed = ps.subscribe(ws, 'p');
      await reading;
      let at = { offset: 0, epoch: '' };
      for (let i = 1; i <= BURST; i++) at = await ps.publish('p', payload('p', i));
      await turnEnd();
      gated.open();
      assert.deepEqual(await subscribed, at, 'it starts after the burst');
      await ps.publish('p', payload('end', 0));
      assert.deepEqual(await readUntil(client, 'end0'), { tags: ['end0'], close: null });
      assert.deepEqual(drops, []);
      assert.equal(ps.subscriberCount('p'), 1);
    });

    it(`'${policy}': the one message at the start offset itself, over the cap alone, is let go uncounted`, async (t) => {
      const { gated, ps, pair } = await gatedPubSub(t, { slowSubscriber: { maxBytes: MAX_BYTES, policy } });
      const { client, ws } = await pair();
      const drops: DropEvent[] = [];
      ps.on('drop', (e) => drops.push(e));
      const reading = gated.gate('position');
      const subscribed = ps.subscribe(ws, 's');
      await reading;
      // Held while the position is read, which then names its offset: the subscription starts after it.
      const at = await ps.publish('s', payload('s', 1).padEnd(MAX_BYTES, '.'));
      await turnEnd();
      gated.open();
      assert.deepEqual(await subscribed, at);
      await ps.publish('s', payload('end', 0));
      assert.deepEqual(await readUntil(client, 'end0'), { tags: ['end0'], close: null });
      assert.deepEqual(drops, []);
    });
  }

  for (const policy of ['close', 'drop'] as const) {
    it(`'${policy}': what is held past the start still meets the cap once the join knows it`, async (t) => {
      const { gated, ps, pair } = await gatedPubSub(t, { slowSubscriber: { maxBytes: MAX_BYTES, policy } });
      const { client, ws } = await pair();
      const drops: DropEvent[] = [];
      ps.on('drop', (e) => drops.push(e));
      const since = await ps.publish('c', payload('c', 0));
      // History read (nothing after `since`) and its answer on its way: the burst is all past the start.
      const answering = gated.gate('answer');
      const subscribed = ps.subscribe(ws, 'c', { since });
      await answering;
      for (let i = 1; i <= BURST; i++) await ps.publish('c', payload('c', i));
      await turnEnd();
      assert.equal(drops.length, 0, 'not yet: the join does not know its start');
      gated.open();
      assert.deepEqual(await subscribed, { ...since, recovered: true });
      if (policy === 'close') {
        const got = await readUntil(client, `c${BURST}`);
        assert.deepEqual(got, { tags: [], close: 1008 }, 'closed for the live messages held past its start');
        assert.equal(drops.length, 1);
        assert.equal(drops[0]!.policy, 'close');
        return;
      }
      // 'drop': the newest held go until the rest fits; the rest is delivered in order, then live.
      assert.ok(drops.length > 0);
      const dropped = drops.map((d) => d.offset);
      const kept = BURST - drops.length;
      assert.deepEqual(
        dropped,
        Array.from({ length: drops.length }, (_, i) => since.offset + BURST - i),
      );
      assert.deepEqual(await readUntil(client, `c${kept}`), { tags: tags('c', 1, kept), close: null });
      await ps.publish('c', payload('end', 0));
      assert.deepEqual(await readUntil(client, 'end0'), { tags: ['end0'], close: null });
    });
  }
});

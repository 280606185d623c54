/**
 * A deployment that keeps history (`--history 100`) restarted with `--history 0` on the same Redis:
 * the topic's history stream still holds the messages published before, and a publish with history
 * size 0 left it there. Since pubsub28 a `since` behind the newest offset is read by the history
 * script also with size 0 (to answer one at the newest offset), which took the stale stream for a
 * whole range: a client back at offset 8 was given 9 and 10, told it recovered, and 11–15 were lost
 * without a word; a process keeping history that published next read 9, 10, 16 as whole. Now a
 * publish that keeps no history drops the topic's history (history must lead up to the newest
 * offset, as for a payload over the bytes bound). Real redis-server.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { RedisBroker } from '../../src/pubsub/index.js';
import { BrokerProcess } from '../support/brokers.js';

let redis: BrokerProcess;
before(async () => {
  redis = await BrokerProcess.redis();
});
after(() => redis.stop());

const events = { onMessage: () => {}, onAvailability: () => {} };

it('a Redis topic published to with history size 0 after size 100: a since behind the newest offset is not recovered from the older history', async (t) => {
  const topic = 'history-size-change';
  const keeping = new RedisBroker(redis.url);
  t.after(() => keeping.close());
  await keeping.open(events, { size: 100, ttlSeconds: 0 });
  let epoch = '';
  for (let i = 1; i <= 10; i++) ({ epoch } = await keeping.publish(topic, Buffer.from(`m${i}`), false));
  await keeping.close();

  const none = new RedisBroker(redis.url);
  t.after(() => none.close());
  await none.open(events, { size: 0, ttlSeconds: 0 });
  for (let i = 11; i <= 15; i++) {
    const at = await none.publish(topic, Buffer.from(`m${i}`), false);
    assert.deepEqual(at, { offset: i, epoch });
  }
  // Nothing after offset 8 is kept whole (11–15 never were): not covered. At the newest offset: nothing missed.
  assert.equal(await none.history(topic, { offset: 8, epoch }), null);
  assert.deepEqual(await none.history(topic, { offset: 15, epoch }), []);

  // A process keeping history that publishes next (16) has a hole behind it, not a whole range (9, 10, 16).
  const again = new RedisBroker(redis.url);
  t.after(() => again.close());
  await again.open(events, { size: 100, ttlSeconds: 0 });
  assert.deepEqual(await again.publish(topic, Buffer.from('m16'), false), { offset: 16, epoch });
  assert.equal(await again.history(topic, { offset: 8, epoch }), null);
  assert.deepEqual(
    (await again.history(topic, { offset: 15, epoch }))?.map((m) => [m.offset, m.data.toString()]),
    [[16, 'm16']],
  );
});

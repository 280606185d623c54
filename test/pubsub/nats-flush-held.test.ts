/**
 * NatsBroker under publish and subscribe churn holds nothing per operation: every publish on core
 * NATS and every subscription waits for a flush, and the flush used to race a promise settled only
 * when the broker closes, leaving one reaction (and the promises and closures it reaches) on it per
 * flush for the broker's whole life: about 2 KB per cycle, without bound. Counted here as the
 * promises made during the cycles that are still alive after a forced GC, with the broker open.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { NatsBroker } from '../../src/pubsub/index.js';
import { BrokerProcess, BrokerRecorder } from '../support/brokers.js';
import { promisesHeldAfter } from '../support/promises-held.js';

const CYCLES = 300;
let server: BrokerProcess;
before(async () => {
  server = await BrokerProcess.nats({ jetstream: false });
});
after(() => server.stop());

it(`${CYCLES} cycles of subscribe, publish, unsubscribe on distinct topics (core NATS) leave no promise held per cycle`, async (t) => {
  const broker = new NatsBroker(server.url);
  t.after(() => broker.close());
  const events = new BrokerRecorder();
  await broker.open(events, { size: 0, ttlSeconds: 0, bytes: 0 });
  await broker.subscribe('warm-up'); // the connection's own promises, made once
  await broker.publish('warm-up', Buffer.from('w'), false);
  await broker.unsubscribe('warm-up');
  const held = await promisesHeldAfter(async () => {
    for (let i = 0; i < CYCLES; i++) {
      const topic = `churn-${i}`;
      await broker.subscribe(topic);
      await broker.publish(topic, Buffer.from(`m${i}`), false);
      await broker.unsubscribe(topic);
    }
  });
  // Each cycle flushes twice (subscribe, publish): held per flush would be ≥ 2 × CYCLES. What the
  // client keeps for itself at any moment (a ping timer's promise, a read in progress) is a few.
  assert.ok(held < CYCLES / 10, `${held} of the promises made by ${CYCLES} cycles still held after GC`);
});

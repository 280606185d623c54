/**
 * RedisBroker when Redis loses its data (a new epoch: offsets start again at 1) while a subscriber
 * process is connected or coming back: every message of the new epoch reaches it once, in order,
 * whichever of history and live delivery brings it. A TCP proxy in front of Redis decides when each
 * of the subscriber's two connections (commands, subscriber) gets through, so the interleavings are
 * chosen, not hoped for.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { BrokerMessage, HistoryOptions } from '../../src/pubsub/broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder } from '../support/brokers.js';

const rows = (messages: BrokerMessage[]): [number, string, string][] =>
  messages.map((m) => [m.offset, m.epoch, m.data.toString()]);

describe('RedisBroker: a new epoch is delivered from its first offset, once, in order', () => {
  const env = brokerBehindProxy(() => BrokerProcess.redis());

  /** An open broker with a recorder of its events, closed after the test (so no other test meets its connections). */
  async function open(
    t: TestContext,
    url: string,
    kept: HistoryOptions = history,
  ): Promise<{ broker: RedisBroker; events: BrokerRecorder }> {
    // (No keep-alive gets in the way: a held link is a stall the test chooses to end.)
    const broker = new RedisBroker({ url, pingIntervalMs: 600_000 });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, kept);
    return { broker, events };
  }

  for (const known of ['a message', 'its position only'] as const) {
    it(`Redis restarted empty, the topic known by ${known}; the subscriber connection back before the command one: offset 2 live waits for offset 1`, async (t) => {
      const topic = `restart-${known.split(' ')[0]}`;
      const sub = await open(t, env.proxy.url('redis')); // its connections go through the proxy
      const pub = await open(t, env.server.url);
      await sub.broker.subscribe(topic);
      const before: [number, string, string][] = [];
      let epoch: string;
      if (known === 'a message') {
        const first = await pub.broker.publish(topic, Buffer.from('before'), false);
        await sub.events.received(topic, 1);
        before.push([1, first.epoch, 'before']);
        epoch = first.epoch;
      } else {
        // As PubSub does when it subscribes: the topic has no message yet, its epoch is all there is.
        epoch = (await sub.broker.position(topic)).epoch;
      }

      env.proxy.holding = true;
      await env.server.kill();
      await Promise.all([sub.events.available(false), pub.events.available(false)]);
      await env.server.start();
      await pub.events.available(true);
      // Published while `sub` is subscribed nowhere: only history has it.
      const one = await pub.broker.publish(topic, Buffer.from('one'), false);
      assert.equal(one.offset, 1);
      assert.notEqual(one.epoch, epoch, 'Redis lost its data: a new epoch');

      // Let the subscriber connection through (it subscribes again), not the command connection.
      const subscriberLink = await env.proxy.link(['subscribe']);
      subscriberLink.release();
      await env.proxy.until(() => subscriberLink.serverText.includes('subscribe') || undefined);
      const two = await pub.broker.publish(topic, Buffer.from('two'), false);
      assert.deepEqual(two, { offset: 2, epoch: one.epoch });
      // Offset 2 has reached `sub`'s socket, live, while it can read nothing from Redis yet.
      await env.proxy.until(() => subscriberLink.serverText.includes('\ntwo') || undefined);

      const commandLink = await env.proxy.link(['SETINFO'], ['subscribe']);
      env.proxy.holding = false;
      commandLink.release();
      await sub.events.available(true);
      const three = await pub.broker.publish(topic, Buffer.from('three'), false);
      await sub.events.until(() => sub.events.of(topic).some((m) => m.epoch === three.epoch && m.offset === 3));
      assert.deepEqual(rows(sub.events.of(topic)), [
        ...before,
        [1, one.epoch, 'one'],
        [2, one.epoch, 'two'],
        [3, one.epoch, 'three'],
      ]);
    });
  }

  it('Redis emptied under a connected subscriber: the new epoch seen live is read from its start, each offset once', async (t) => {
    const topic = 'flushed';
    const sub = await open(t, env.server.url);
    const pub = await open(t, env.server.url);
    await sub.broker.subscribe(topic);
    const first = await pub.broker.publish(topic, Buffer.from('before'), false);
    await sub.events.received(topic, 1);
    await env.server.flushAll();
    // Several in flight at once: live ones arrive while the new epoch's history is being read.
    const sent = await Promise.all(
      ['one', 'two', 'three', 'four'].map((text) => pub.broker.publish(topic, Buffer.from(text), false)),
    );
    const epoch = sent[0]!.epoch;
    assert.notEqual(epoch, first.epoch);
    assert.deepEqual(
      sent.map((at) => at.offset),
      [1, 2, 3, 4],
    );
    const last = await pub.broker.publish(topic, Buffer.from('five'), false);
    await sub.events.until(() => sub.events.of(topic).some((m) => m.epoch === epoch && m.offset === last.offset));
    assert.deepEqual(rows(sub.events.of(topic)), [
      [1, first.epoch, 'before'],
      [1, epoch, 'one'],
      [2, epoch, 'two'],
      [3, epoch, 'three'],
      [4, epoch, 'four'],
      [5, epoch, 'five'],
    ]);
  });

  // Before, the read's 3-5 were delivered, and the held 1-2 of the new epoch passed for repeats:
  // lost, though this process held them.
  it("Redis emptied, the new epoch's read held while its offsets 1-5 come live (history 3): the held 1-2 fill what history lost, in order, once", async (t) => {
    const topic = 'flushed-held';
    const kept = { size: 3, ttlSeconds: 0 };
    const old = new Set(env.proxy.links);
    const sub = await open(t, env.proxy.url('redis'), kept); // its connections go through the proxy
    const pub = await open(t, env.server.url, kept);
    await sub.broker.subscribe(topic);
    const first = await pub.broker.publish(topic, Buffer.from('before'), false);
    await sub.events.received(topic, 1);
    const command = await env.proxy.until(() =>
      [...env.proxy.links].find(
        (l) => !old.has(l) && l.clientText.includes('SETINFO') && !l.clientText.includes('subscribe'),
      ),
    );
    const reads = (): number => command.clientText.split('EVALSHA').length - 1;
    const before = reads();
    command.holdClientFrom('EVALSHA');

    await env.server.flushAll();
    const texts = ['one', 'two', 'three', 'four', 'five'];
    const sent = [];
    for (const text of texts) sent.push(await pub.broker.publish(topic, Buffer.from(text), false));
    const epoch = sent[0]!.epoch;
    assert.notEqual(epoch, first.epoch);
    // Offset 1 of the new epoch made `sub` read that epoch's history (held); the rest are held too
    // (a subscription's acknowledgement comes after them).
    await env.proxy.until(() => reads() > before || undefined);
    await sub.broker.subscribe(`${topic}-probe`);
    assert.deepEqual(rows(sub.events.of(topic)), [[1, first.epoch, 'before']]);

    command.release(); // the read runs: history has 3-5
    await sub.events.until(() => sub.events.of(topic).some((m) => m.epoch === epoch && m.offset === 5));
    assert.deepEqual(rows(sub.events.of(topic)), [
      [1, first.epoch, 'before'],
      ...texts.map((text, i): [number, string, string] => [i + 1, epoch, text]),
    ]);
  });
});

/**
 * RedisBroker when the read a topic waits for (its position after a lost connection) fails late or
 * is not answered: it is made again, and the topic's held live messages are delivered after it,
 * in order, and the broker reports available; past what a topic holds (10,000 messages or 4 MiB of
 * them) they are dropped and read back from history. A TCP proxy in front of Redis holds the read's command, answers it in the
 * server's stead, and cuts the connections, so each interleaving is chosen, not hoped for.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { BrokerMessage, HistoryOptions } from '../../src/pubsub/broker.js';
import { MAX_HELD, MAX_HELD_BYTES } from '../../src/pubsub/broker-support.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder, poll, type ProxyLink } from '../support/brokers.js';

const rows = (messages: BrokerMessage[]): [number, string][] => messages.map((m) => [m.offset, m.data.toString()]);

describe('RedisBroker: a topic whose read fails late or never returns still delivers what it holds', () => {
  const env = brokerBehindProxy(() => BrokerProcess.redis());

  async function open(
    t: TestContext,
    url: string,
    commandTimeoutMs: number,
    kept: HistoryOptions = history,
  ): Promise<{ broker: RedisBroker; events: BrokerRecorder }> {
    // (No keep-alive gets in the way: a held command is a stall the test chooses to end.)
    const broker = new RedisBroker({ url, commandTimeoutMs, pingIntervalMs: 600_000 });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, kept);
    return { broker, events };
  }

  /** A link opened after `old` was taken whose client wrote all of `texts` and none of `not`. */
  function newLink(old: Set<ProxyLink>, texts: string[], not: string[] = []): Promise<ProxyLink> {
    return env.proxy.until(() =>
      [...env.proxy.links].find(
        (l) =>
          !old.has(l) && texts.every((s) => l.clientText.includes(s)) && !not.some((s) => l.clientText.includes(s)),
      ),
    );
  }

  /**
   * Cuts every connection of a subscriber broker (`sub`, whose one topic has offset 1 delivered),
   * lets them back with the command connection's first script (the position read of the recovery)
   * held at the proxy, and returns both new links once that read is on its way.
   */
  async function reconnectWithPositionHeld(sub: {
    events: BrokerRecorder;
  }): Promise<{ command: ProxyLink; subscriber: ProxyLink }> {
    const old = new Set(env.proxy.links);
    env.proxy.holding = true;
    for (const link of old) link.destroy();
    await sub.events.available(false);
    const [command, subscriber] = await Promise.all([
      newLink(old, ['SETINFO'], ['subscribe']),
      newLink(old, ['subscribe']),
    ]);
    env.proxy.holding = false;
    command.holdClientFrom('EVALSHA');
    command.release();
    subscriber.release();
    await env.proxy.until(() => command.clientText.includes('EVALSHA') || undefined);
    return { command, subscriber };
  }

  /** Resolves once `broker`'s subscriber connection is back (so its recovery has begun): a subscription gets through. */
  async function subscriberBack(broker: RedisBroker): Promise<void> {
    await poll(() =>
      broker.subscribe('probe').then(
        () => true,
        () => false,
      ),
    );
  }

  it('the read fails after the subscriber connection was lost and came back: the topic reads again and delivers what it held', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'late-failure';
    // No deadline gets in the way: the read fails when the test answers it.
    const sub = await open(t, env.proxy.url('redis'), 600_000);
    const pub = await open(t, env.server.url, 600_000);
    await sub.broker.subscribe(topic);
    await pub.broker.publish(topic, Buffer.from('one'), false);
    await sub.events.received(topic, 1);

    const { command, subscriber } = await reconnectWithPositionHeld(sub);
    // The subscriber connection drops while the position read runs, and comes back: its recovery
    // finds the read still running.
    const reports = sub.events.availability.length;
    subscriber.destroy();
    await sub.events.until(() => sub.events.availability.length > reports);
    await subscriberBack(sub.broker);
    await pub.broker.publish(topic, Buffer.from('two'), false);
    // Its acknowledgement follows offset 2 on the subscriber connection: offset 2 is held.
    await sub.broker.subscribe('probe-2');
    assert.deepEqual(rows(sub.events.of(topic)), [[1, 'one']]);

    // Now the read fails (an error reply).
    command.answerHeld('-ERR the test fails this read\r\n');
    await sub.events.received(topic, 2);
    await sub.events.available(true);
    await pub.broker.publish(topic, Buffer.from('three'), false);
    await sub.events.received(topic, 3);
    assert.deepEqual(rows(sub.events.of(topic)), [
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ]);
  });

  it('the read is not answered: after commandTimeoutMs it is made again (never skipped), and once answered the topic goes on in order', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'no-reply';
    // The deadline is what ends the wait (its length only decides when).
    const sub = await open(t, env.proxy.url('redis'), 1000);
    const pub = await open(t, env.server.url, 600_000);
    await sub.broker.subscribe(topic);
    await pub.broker.publish(topic, Buffer.from('one'), false);
    await sub.events.received(topic, 1);

    // The command connection's scripts after the reconnection do not reach Redis for now.
    const { command } = await reconnectWithPositionHeld(sub);
    await subscriberBack(sub.broker);
    await pub.broker.publish(topic, Buffer.from('two'), false);
    // After the deadline the read is made again (held too), and the topic still waits for it.
    await env.proxy.until(() => command.clientText.split('EVALSHA').length - 1 >= 2 || undefined);
    assert.deepEqual(rows(sub.events.of(topic)), [[1, 'one']]);
    command.release();
    await sub.events.available(true);
    await pub.broker.publish(topic, Buffer.from('three'), false);
    await sub.events.received(topic, 3);
    assert.deepEqual(rows(sub.events.of(topic)), [
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ]);
  });

  it('more live messages than a topic holds arrive while its read runs: they are dropped, then read back from history, in order, once', {
    timeout: 300_000,
  }, async (t) => {
    const topic = 'overflow';
    const count = 10_005; // past the 10000 a topic holds
    const kept = { size: 20_000, ttlSeconds: 0 };
    const sub = await open(t, env.proxy.url('redis'), 600_000, kept);
    const pub = await open(t, env.server.url, 600_000, kept);
    await sub.broker.subscribe(topic);
    await pub.broker.publish(topic, Buffer.from('m1'), false);
    await sub.events.received(topic, 1);

    const { command } = await reconnectWithPositionHeld(sub);
    await subscriberBack(sub.broker);
    for (let sent = 0; sent < count; sent += 500) {
      const batch = Math.min(500, count - sent);
      await Promise.all(
        Array.from({ length: batch }, (_, i) => pub.broker.publish(topic, Buffer.from(`m${sent + i + 2}`), false)),
      );
    }
    // Its acknowledgement follows every message above on the subscriber connection.
    await sub.broker.subscribe('probe-2');
    assert.equal(sub.events.of(topic).length, 1);
    assert.equal(command.clientText.split('EVALSHA').length - 1, 1, 'one read so far: the position');

    command.release();
    await sub.events.received(topic, count + 1);
    await sub.events.available(true);
    const offsets = sub.events.of(topic).map((m) => m.offset);
    assert.deepEqual(
      offsets,
      Array.from({ length: count + 1 }, (_, i) => i + 1),
    );
    assert.ok(sub.events.of(topic).every((m) => m.data.toString() === `m${m.offset}`));
    // The dropped messages came back by a read of history after the position read.
    assert.equal(command.clientText.split('EVALSHA').length - 1, 2);
  });

  // Before, only their count bounded what a waiting topic held: 10,000 messages of 1 MiB each
  // would be 10 GB held in this process while one slow read ran.
  for (const { size, what } of [
    { size: 100, what: 'read back from history, in order, once' },
    { size: 3, what: 'what history no longer holds is lost (the offsets show the gap), the rest in order, once' },
  ]) {
    it(`more live payload than a topic holds (MAX_HELD_BYTES, in a few large messages) arrives while its history read runs: dropped; ${what}`, {
      timeout: 120_000,
    }, async (t) => {
      const topic = `overflow-bytes-${size}`;
      const SIZE = 1024 * 1024;
      const count = Math.floor(MAX_HELD_BYTES / SIZE) + 2; // past the bytes a topic holds, far fewer than MAX_HELD
      assert.ok(count < MAX_HELD / 10);
      const last = count + 1;
      const payload = (offset: number): Buffer => Buffer.from(`m${offset}`.padEnd(SIZE, '.'));
      const kept = { size, ttlSeconds: 0 }; // (16 MiB of payload by default: the messages' count decides)
      const sub = await open(t, env.proxy.url('redis'), 600_000, kept);
      const pub = await open(t, env.server.url, 600_000, kept);
      await sub.broker.subscribe(topic);
      await pub.broker.publish(topic, Buffer.from('m1'), false);
      await sub.events.received(topic, 1);

      // Back after a lost connection: the position read goes, the history read after it is held.
      const { command } = await reconnectWithPositionHeld(sub);
      await subscriberBack(sub.broker);
      const reads = (): number => command.clientText.split('EVALSHA').length - 1;
      command.release();
      command.holdClientFrom('EVALSHA');
      await env.proxy.until(() => reads() === 2 || undefined);
      for (let offset = 2; offset <= last; offset++) await pub.broker.publish(topic, payload(offset), false);
      // Its acknowledgement follows every message above on the subscriber connection.
      await sub.broker.subscribe('probe-2');
      assert.equal(sub.events.of(topic).length, 1);
      assert.equal(reads(), 2, 'the position, then the history read held');

      command.release();
      await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === last);
      await sub.events.available(true);
      const got = sub.events.of(topic);
      const oldest = Math.max(2, last - size + 1); // the oldest message history still holds
      assert.deepEqual(
        got.map((m) => m.offset),
        [1, ...Array.from({ length: last - oldest + 1 }, (_, i) => oldest + i)],
      );
      assert.ok(got.slice(1).every((m) => m.data.equals(payload(m.offset))));
      // The held read began before they were dropped: they came back by one more read of history.
      assert.equal(reads(), 3);
    });
  }
});

/**
 * RedisBroker when the read a topic waits for (its position after a lost connection) fails late or
 * is not answered: it is made again, and the topic's held live messages are delivered after it,
 * in order, and the broker reports available; past what a topic holds (10,000 messages or 4 MiB of
 * them) they are dropped and read back from history. When history was trimmed past what the read
 * asked for, the live messages the topic holds fill what history lost (in its epoch, in order,
 * once): only what neither has is lost. A TCP proxy in front of Redis holds the read's command, answers it in the
 * server's stead, and cuts the connections, so each interleaving is chosen, not hoped for.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { BrokerMessage, HistoryOptions } from '../../src/pubsub/broker.js';
import { MAX_HELD, MAX_HELD_BYTES } from '../../src/pubsub/broker-support.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history, publishNumbered } from '../support/broker-suite.js';
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
    await publishNumbered(pub.broker, topic, 2, count);
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

  it('exactly MAX_HELD live messages arrive while its read runs (history 3): all held, none dropped, every one delivered in order', {
    timeout: 300_000,
  }, async (t) => {
    const topic = 'at-bound';
    const kept = { size: 3, ttlSeconds: 0 }; // a drop would lose what history no longer has
    const sub = await open(t, env.proxy.url('redis'), 600_000, kept);
    const pub = await open(t, env.server.url, 600_000, kept);
    await sub.broker.subscribe(topic);
    await pub.broker.publish(topic, Buffer.from('m1'), false);
    await sub.events.received(topic, 1);

    const { command } = await reconnectWithPositionHeld(sub);
    await subscriberBack(sub.broker);
    await publishNumbered(pub.broker, topic, 2, MAX_HELD);
    // Its acknowledgement follows every message above on the subscriber connection.
    await sub.broker.subscribe('probe-at-bound');
    assert.equal(sub.events.of(topic).length, 1);

    command.release();
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === MAX_HELD + 1);
    assert.deepEqual(
      sub.events.of(topic).map((m) => m.offset),
      Array.from({ length: MAX_HELD + 1 }, (_, i) => i + 1),
    );
    assert.ok(sub.events.of(topic).every((m) => m.data.toString() === `m${m.offset}`));
  });

  /**
   * Back after a lost connection with history at 3 messages: the position read goes, the history
   * read after it is held at the proxy while `pub` publishes offsets 2 to `last` (small: none
   * dropped). Unless `inTransit`, `sub` has received them all, live (a subscription's
   * acknowledgement comes after them); with it, its subscriber link is stalled first, so they are
   * on their way. Returns both links (the history read held) and a count of the scripts sent.
   */
  async function historyReadHeldWhileLive(
    t: TestContext,
    topic: string,
    last: number,
    inTransit = false,
  ): Promise<{
    sub: { broker: RedisBroker; events: BrokerRecorder };
    pub: { broker: RedisBroker; events: BrokerRecorder };
    command: ProxyLink;
    subscriber: ProxyLink;
    reads: () => number;
  }> {
    const kept = { size: 3, ttlSeconds: 0 };
    const sub = await open(t, env.proxy.url('redis'), 600_000, kept);
    const pub = await open(t, env.server.url, 600_000, kept);
    await sub.broker.subscribe(topic);
    await pub.broker.publish(topic, Buffer.from('m1'), false);
    await sub.events.received(topic, 1);

    const { command, subscriber } = await reconnectWithPositionHeld(sub);
    await subscriberBack(sub.broker);
    const reads = (): number => command.clientText.split('EVALSHA').length - 1;
    command.release();
    command.holdClientFrom('EVALSHA');
    await env.proxy.until(() => reads() === 2 || undefined);
    if (inTransit) subscriber.stall();
    for (let offset = 2; offset <= last; offset++) await pub.broker.publish(topic, Buffer.from(`m${offset}`), false);
    if (!inTransit) await sub.broker.subscribe(`${topic}-probe`);
    assert.deepEqual(rows(sub.events.of(topic)), [[1, 'm1']]);
    return { sub, pub, command, subscriber, reads };
  }

  // Before, the read's 5-7 were delivered, and the held 2-4 passed for repeats (at or below the last
  // delivered) and were dropped: lost, though this process held them (NATS delivered them).
  it('history trimmed past what the topic holds live while its read runs (history 3): the held ones fill what history lost, in order, once', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'held-past-history';
    const { sub, command, reads } = await historyReadHeldWhileLive(t, topic, 7);
    // Now Redis runs the read: history has 5-7 only.
    command.release();
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === 7);
    await sub.events.available(true);
    assert.deepEqual(
      rows(sub.events.of(topic)),
      Array.from({ length: 7 }, (_, i) => [i + 1, `m${i + 1}`]),
    );
    assert.equal(reads(), 2, 'the position and the history read, no other');
  });

  // Only the read's epoch is filled from memory: held offsets 1-2 of a newer epoch are not the
  // old one's 1-2, nor its 3-4 (they would have passed for them, and the old epoch's 5-7 come after
  // the new one's).
  it('history trimmed while its read is held, Redis emptied before its reply comes: the held ones of its epoch fill what history lost, those of the new epoch come after, from its start', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'held-two-epochs';
    const { sub, pub, command, reads } = await historyReadHeldWhileLive(t, topic, 7);
    const old = sub.events.of(topic)[0]!.epoch;
    // The read runs now (history has 5-7), its reply kept at the proxy (none can come in this turn).
    command.release();
    command.stall();
    await env.server.flushAll();
    const one = await pub.broker.publish(topic, Buffer.from('n1'), false);
    await pub.broker.publish(topic, Buffer.from('n2'), false);
    assert.notEqual(one.epoch, old, 'Redis emptied: a new epoch');
    await sub.broker.subscribe(`${topic}-probe-2`);
    assert.equal(sub.events.of(topic).length, 1);

    command.release();
    await sub.events.until(() => sub.events.of(topic).some((m) => m.epoch === one.epoch && m.offset === 2));
    await sub.events.available(true);
    assert.deepEqual(
      sub.events.of(topic).map((m) => [m.epoch, m.offset, m.data.toString()]),
      [...Array.from({ length: 7 }, (_, i) => [old, i + 1, `m${i + 1}`]), [one.epoch, 1, 'n1'], [one.epoch, 2, 'n2']],
    );
    assert.equal(reads(), 3, "the position, the old epoch's history, the new one's");
  });

  // Redis sends the live ones before it runs the read, but they come on the other connection: had
  // the read's reply come first and its 5-7 been delivered at once, 2-4 would have come after
  // them, taken for repeats.
  it('history trimmed while its read is held, the live messages still on their way when its reply comes: they are waited for (a PING on their connection), then all in order, once', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'held-in-transit';
    const { sub, command, subscriber } = await historyReadHeldWhileLive(t, topic, 7, true);
    const pings = (): number => subscriber.clientText.split('PING').length - 1;
    const before = pings();
    command.release();
    // The reply has come: the broker has either delivered 5-7 or asked its subscriber connection.
    await Promise.race([
      sub.events.until(() => sub.events.of(topic).length > 1),
      env.proxy.until(() => pings() > before || undefined),
    ]);
    assert.deepEqual(rows(sub.events.of(topic)), [[1, 'm1']]);
    subscriber.release();
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === 7);
    await sub.events.available(true);
    assert.deepEqual(
      rows(sub.events.of(topic)),
      Array.from({ length: 7 }, (_, i) => [i + 1, `m${i + 1}`]),
    );
  });

  // The PING that waits for them fails (its connection is lost with them): the topic is not left
  // waiting on it; the reconnection reads again, and what neither history nor memory has is lost.
  it('history trimmed while its read is held, the subscriber connection lost with the live messages and the PING on it: the topic reads again once back and goes on (2-4 lost, the offsets show it)', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'held-ping-lost';
    const { sub, pub, command, subscriber } = await historyReadHeldWhileLive(t, topic, 7, true);
    const reports = sub.events.availability.length;
    command.release();
    await env.proxy.until(() => subscriber.clientText.includes('PING') || undefined);
    assert.deepEqual(rows(sub.events.of(topic)), [[1, 'm1']]);
    subscriber.destroy();
    await sub.events.until(() => sub.events.availability.length > reports);
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === 7);
    await sub.events.available(true);
    await pub.broker.publish(topic, Buffer.from('m8'), false);
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === 8);
    assert.deepEqual(rows(sub.events.of(topic)), [
      [1, 'm1'],
      [5, 'm5'],
      [6, 'm6'],
      [7, 'm7'],
      [8, 'm8'],
    ]);
  });

  // What was dropped for the bounds and trimmed is lost; what came after the drop is held, and
  // fills what history lost of it, both for the read that was running and for the read of what
  // was dropped (its catch-up). Before, 7, 11 and 12 were lost too.
  it('live messages dropped for the bounds, history trimmed (history 3): those held since the drop fill what history lost, in the read and in its catch-up', {
    timeout: 120_000,
  }, async (t) => {
    const topic = 'held-after-drop';
    const SIZE = 1024 * 1024;
    const large = Math.floor(MAX_HELD_BYTES / SIZE) + 1; // 2 to large + 1: dropped (past MAX_HELD_BYTES)
    const { sub, command, reads } = await historyReadHeldWhileLive(t, topic, 1);
    const pub = await open(t, env.server.url, 600_000, { size: 3, ttlSeconds: 0 });
    const publish = (offset: number, bytes = 0): Promise<unknown> =>
      pub.broker.publish(topic, Buffer.from(`m${offset}`.padEnd(bytes, '.')), false);
    let offset = 2;
    for (; offset <= large + 1; offset++) await publish(offset, SIZE);
    const held = offset; // the first held after the drop
    for (; offset <= held + 3; offset++) await publish(offset);
    await sub.broker.subscribe(`${topic}-probe-2`);
    assert.equal(sub.events.of(topic).length, 1);
    // The read runs (history has the last 3: one held after the drop is older), and the catch-up
    // of what was dropped after it is held in turn while five more come live.
    command.release();
    command.holdClientFrom('EVALSHA');
    await env.proxy.until(() => reads() === 3 || undefined);
    const caughtUp = offset;
    for (; offset <= caughtUp + 4; offset++) await publish(offset);
    await sub.broker.subscribe(`${topic}-probe-3`);
    const first = [1, ...Array.from({ length: 4 }, (_, i) => held + i)];
    assert.deepEqual(
      sub.events.of(topic).map((m) => m.offset),
      first,
    );
    command.release();
    const last = offset - 1;
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === last);
    await sub.events.available(true);
    assert.deepEqual(
      sub.events.of(topic).map((m) => m.offset),
      [...first, ...Array.from({ length: last - caughtUp + 1 }, (_, i) => caughtUp + i)],
    );
    assert.ok(sub.events.of(topic).every((m) => m.data.toString() === `m${m.offset}`));
    assert.equal(reads(), 3);
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

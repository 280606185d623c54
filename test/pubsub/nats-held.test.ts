/**
 * NatsBroker holds at most 10,000 live messages per topic while the topic waits (here: its
 * catch-up read after a reconnection, held at a TCP proxy in front of the real nats-server), and at
 * most 4 MiB of their payload; past either it drops them and reads them back from history, in
 * order, before anything newer: every message arrives once, in offset order, and the proxy shows
 * the second history read. When history was trimmed past the held ones before the read, they
 * fill what it lost.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { HistoryOptions, TopicPosition } from '../../src/pubsub/broker.js';
import { MAX_HELD, MAX_HELD_BYTES } from '../../src/pubsub/broker-support.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { publishNumbered } from '../support/broker-suite.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder, type ProxyLink } from '../support/brokers.js';

const count = (text: string, part: string): number => text.split(part).length - 1;

/** A broker opened for a test and what it told its PubSub. */
interface Opened {
  broker: NatsBroker;
  events: BrokerRecorder;
}

describe('NatsBroker: more live messages than a topic holds while it waits', () => {
  const env = brokerBehindProxy(() => BrokerProcess.nats());
  const kept = { size: 20_000, ttlSeconds: 0 };

  async function open(
    t: TestContext,
    url: string,
    history: HistoryOptions = kept,
    maxHeldBytes?: number,
  ): Promise<Opened> {
    // (No keep-alive gets in the way: the held read is a stall the test chooses to end. No wait ends
    // by `commandTimeoutMs` either: a hole this process dropped is given up at once, not waited for
    // as a late republication.)
    const broker = new NatsBroker({ url, pingIntervalMs: 600_000, commandTimeoutMs: 600_000, maxHeldBytes });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, history);
    return { broker, events };
  }

  /**
   * A subscriber of `topic` through the proxy and a publisher straight to the server, both opened for the test,
   * once the subscriber has the first message, `m1` (`first` is where it went). `maxHeldBytes` is the subscriber's.
   */
  async function subscribedWithFirst(
    t: TestContext,
    topic: string,
    history: HistoryOptions = kept,
    maxHeldBytes?: number,
  ): Promise<{ sub: Opened; pub: Opened; first: TopicPosition }> {
    const sub = await open(t, env.proxy.url('nats'), history, maxHeldBytes);
    const pub = await open(t, env.server.url, history);
    await sub.broker.subscribe(topic);
    const first = await pub.broker.publish(topic, Buffer.from('m1'), false);
    await sub.events.received(topic, 1);
    return { sub, pub, first };
  }

  /**
   * Cuts `sub`'s connection (the one through the proxy); while it is away `pub` publishes `m2` (unless `away` is false), so
   * that the topic reads history when it is back. Returns the new link once that read is on its way, held from the server at `at`: its consumer (the
   * stream's bounds already read), or the stream's info (so the read finds what history holds once the live ones came).
   */
  async function backWithReadHeld(
    sub: { events: BrokerRecorder },
    pub: { broker: NatsBroker },
    topic: string,
    at: 'CONSUMER.CREATE' | 'STREAM.INFO' = 'CONSUMER.CREATE',
    away = true,
  ): Promise<ProxyLink> {
    const old = new Set(env.proxy.links);
    env.proxy.holding = true;
    for (const l of old) l.destroy();
    await sub.events.available(false);
    if (away) await pub.broker.publish(topic, Buffer.from('m2'), false);
    const link = await env.proxy.until(() => [...env.proxy.links].find((l) => !old.has(l)));
    link.holdClientFrom(at);
    env.proxy.holding = false;
    link.release();
    await env.proxy.until(() => link.clientText.includes(at) || undefined);
    return link;
  }

  /**
   * Once the held read's link has seen `m7` from the server and the subscriber still has only its first message,
   * lets the read go on and checks what the subscriber then has: `offsets`, each as `m<offset>`, all of `epoch`, after
   * one read of history.
   */
  async function releasedThenGot(
    sub: { events: BrokerRecorder },
    link: ProxyLink,
    topic: string,
    offsets: number[],
    epoch: string,
  ): Promise<void> {
    await env.proxy.until(() => link.serverText.endsWith('m7\r\n') || undefined);
    assert.equal(sub.events.of(topic).length, 1);
    link.release();
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === 7);
    await sub.events.available(true);
    const got = sub.events.of(topic);
    assert.deepEqual(
      got.map((m) => [m.offset, m.data.toString()]),
      offsets.map((offset) => [offset, `m${offset}`]),
    );
    assert.ok(got.every((m) => m.epoch === epoch));
    // One read: it ends where the stream stood when asked (what it fetched past that came live), or
    // finds nothing of the range left; not taken for a read ended early and made again.
    assert.equal(count(link.clientText, 'CONSUMER.CREATE'), 1);
  }

  it('are dropped, then read back from history: every message once, in order', { timeout: 300_000 }, async (t) => {
    const topic = 'overflow';
    const live = 10_005; // past the 10,000 a topic holds
    const { sub, pub, first } = await subscribedWithFirst(t, topic);

    // Away and back, with the read of history kept from the server while the live messages come.
    const link = await backWithReadHeld(sub, pub, topic);
    await publishNumbered(pub.broker, topic, 3, live);
    const end = `m${live + 2}`;
    await env.proxy.until(() => link.serverText.endsWith(`${end}\r\n`) || undefined);
    assert.equal(sub.events.of(topic).length, 1);
    assert.equal(count(link.clientText, 'CONSUMER.CREATE'), 1, 'one history read so far');

    link.release();
    await sub.events.received(topic, live + 2);
    await sub.events.available(true);
    const got = sub.events.of(topic);
    assert.deepEqual(
      got.map((m) => m.offset),
      Array.from({ length: live + 2 }, (_, i) => i + 1),
    );
    assert.ok(got.every((m) => m.epoch === first.epoch && m.data.toString() === `m${m.offset}`));
    // The dropped messages came back by a second read of history.
    assert.equal(count(link.clientText, 'CONSUMER.CREATE'), 2);
  });
  // Dropped at the last one that came, nothing held since: the catch-up read covers only m2, and
  // what was dropped is read next. (Taken for held ones that follow on, none, 3-7 waited for the
  // next publication: this shows no read of them.)
  it('past maxHeldBytes at the last that came (nothing held since the drop): read back from history, every one once, in order', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'overflow-at-last';
    const SIZE = 16 * 1024;
    const { sub, pub, first } = await subscribedWithFirst(t, topic, kept, 4 * SIZE);
    const payload = (offset: number): Buffer => Buffer.from(`m${offset}`.padStart(SIZE, '.'));

    const link = await backWithReadHeld(sub, pub, topic);
    // (3-7: 5 of SIZE, past 4 of them at m7)
    for (let offset = 3; offset <= 7; offset++) await pub.broker.publish(topic, payload(offset), false);
    await env.proxy.until(() => link.serverText.endsWith('m7\r\n') || undefined);
    assert.equal(sub.events.of(topic).length, 1);
    assert.equal(count(link.clientText, 'CONSUMER.CREATE'), 1, 'one history read so far');

    link.release();
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === 7);
    await sub.events.available(true);
    const got = sub.events.of(topic);
    assert.deepEqual(
      got.map((m) => m.offset),
      [1, 2, 3, 4, 5, 6, 7],
    );
    assert.ok(got.every((m) => m.epoch === first.epoch));
    assert.ok(got.every((m) => m.offset < 3 || m.data.equals(payload(m.offset))));
    assert.equal(count(link.clientText, 'CONSUMER.CREATE'), 2);
  });

  // The same case as RedisBroker's (test/pubsub/redis-stalled-read.test.ts): what this process
  // holds is delivered although history no longer has it; only m2, published while it was away and
  // trimmed, is lost. Held at its consumer, the read finds history trimmed under it (and is given
  // up); held at the stream's info, it finds history already trimmed past the held 3-4 and reads
  // 5-7 (before, 3-4 then passed for repeats: 1, 5, 6, 7).
  for (const at of ['CONSUMER.CREATE', 'STREAM.INFO'] as const) {
    it(`history trimmed (history 3) while the catch-up read is held at ${at} and 3-7 come live: every one held is delivered, in order, once`, {
      timeout: 60_000,
    }, async (t) => {
      const topic = `held-past-history-${at}`;
      const history = { size: 3, ttlSeconds: 0 };
      const { sub, pub, first } = await subscribedWithFirst(t, topic, history);

      const link = await backWithReadHeld(sub, pub, topic, at);
      for (let offset = 3; offset <= 7; offset++) await pub.broker.publish(topic, Buffer.from(`m${offset}`), false);
      await releasedThenGot(sub, link, topic, [1, 3, 4, 5, 6, 7], first.epoch);
    });
  }

  // The same with nothing published while away: history (3) starts at 3 when read, just past m2,
  // which this process holds alone. Delivered first, before history's 3-5 (a first offset of
  // history one past the next one due was taken for no loss: 3-5 delivered, m2 then dropped as old).
  it('nothing published while away, history (3) trimmed to 3-5 while the catch-up read is held and 2-5 come live: m2, held alone, delivered first', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'held-just-below-history';
    const history = { size: 3, ttlSeconds: 0 };
    const { sub, pub, first } = await subscribedWithFirst(t, topic, history);

    const link = await backWithReadHeld(sub, pub, topic, 'STREAM.INFO', false);
    for (let offset = 2; offset <= 5; offset++) await pub.broker.publish(topic, Buffer.from(`m${offset}`), false);
    await env.proxy.until(() => link.serverText.endsWith('m5\r\n') || undefined);
    assert.equal(sub.events.of(topic).length, 1);
    link.release();
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === 5);
    await sub.events.available(true);
    const got = sub.events.of(topic);
    assert.deepEqual(
      got.map((m) => [m.offset, m.data.toString()]),
      [1, 2, 3, 4, 5].map((offset) => [offset, `m${offset}`]),
    );
    assert.ok(got.every((m) => m.epoch === first.epoch));
  });

  // No history kept (size 0): the catch-up read has nothing to read, and the live ones held up to
  // where the stream stood are delivered. m2, published once the link is back and held while the
  // stream's position is read, is the newest: delivered, and the next comes live, with no check of
  // the stream (nothing of m2 is left held).
  it('history 0: a message published while the catch-up reads the stream, its newest, is delivered; the next goes straight through', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'no-history-held-newest';
    const history = { size: 0, ttlSeconds: 0 };
    const { sub, pub, first } = await subscribedWithFirst(t, topic, history);

    const link = await backWithReadHeld(sub, pub, topic, 'STREAM.INFO', false);
    await pub.broker.publish(topic, Buffer.from('m2'), false);
    await env.proxy.until(() => link.serverText.endsWith('m2\r\n') || undefined);
    assert.equal(sub.events.of(topic).length, 1);
    link.release();
    await sub.events.available(true); // (told once the topic restarted)
    const reads = count(link.clientText, 'STREAM.INFO');
    await pub.broker.publish(topic, Buffer.from('m3'), false);
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === 3);
    assert.deepEqual(
      sub.events.of(topic).map((m) => [m.offset, m.epoch, m.data.toString()]),
      [1, 2, 3].map((offset) => [offset, first.epoch, `m${offset}`]),
    );
    assert.equal(count(link.clientText, 'STREAM.INFO'), reads, 'm3 delivered without a check');
  });

  // History trimmed under the catch-up read before its first message (held at its consumer, the
  // stream's bounds already read): what history still holds of what was missed is delivered, as when
  // the trim came before the read. Before, the read was given up and m5, still in history, was lost
  // (1, 6, 7).
  it('history trimmed (history 3) under the catch-up read of 3-5: m5, still in history, is delivered', {
    timeout: 60_000,
  }, async (t) => {
    const topic = 'trimmed-under-read';
    const history = { size: 3, ttlSeconds: 0 };
    const { sub, pub, first } = await subscribedWithFirst(t, topic, history);

    const old = new Set(env.proxy.links);
    env.proxy.holding = true;
    for (const l of old) l.destroy();
    await sub.events.available(false);
    for (let offset = 2; offset <= 5; offset++) await pub.broker.publish(topic, Buffer.from(`m${offset}`), false);
    const link = await env.proxy.until(() => [...env.proxy.links].find((l) => !old.has(l)));
    link.holdClientFrom('CONSUMER.CREATE');
    env.proxy.holding = false;
    link.release();
    await env.proxy.until(() => link.clientText.includes('CONSUMER.CREATE') || undefined);
    // The read of 3-5 waits for its consumer; 6 and 7 trim history to 5-7.
    for (let offset = 6; offset <= 7; offset++) await pub.broker.publish(topic, Buffer.from(`m${offset}`), false);
    await releasedThenGot(sub, link, topic, [1, 5, 6, 7], first.epoch);
  });

  // Before, only their count bounded what a waiting topic held: 10,000 messages of up to 1 MiB
  // each (NATS's max_payload) would be 10 GB held in this process while one slow read ran.
  for (const { size, what } of [
    { size: 100, what: 'read back from history: every message once, in order' },
    { size: 3, what: 'what history no longer holds is lost (the offsets show the gap), the rest once, in order' },
  ]) {
    it(`past MAX_HELD_BYTES of payload (a few large messages) they are dropped; ${what}`, {
      timeout: 120_000,
    }, async (t) => {
      const topic = `overflow-bytes-${size}`;
      const SIZE = 768 * 1024; // (under max_payload, 1 MiB, with the headers)
      const large = Math.floor(MAX_HELD_BYTES / SIZE) + 2; // past the bytes a topic holds, far fewer than MAX_HELD
      assert.ok(large < MAX_HELD / 10);
      const payload = (offset: number): Buffer => Buffer.from(`m${offset}`.padStart(SIZE, '.'));
      const history = { size, ttlSeconds: 0 }; // (16 MiB of payload by default: the messages' count decides)
      const { sub, pub, first } = await subscribedWithFirst(t, topic, history);

      const link = await backWithReadHeld(sub, pub, topic);
      const last = large + 2;
      for (let offset = 3; offset <= last; offset++) await pub.broker.publish(topic, payload(offset), false);
      await env.proxy.until(() => link.serverText.endsWith(`m${last}\r\n`) || undefined);
      assert.equal(sub.events.of(topic).length, 1);
      assert.equal(count(link.clientText, 'CONSUMER.CREATE'), 1, 'one history read so far');

      link.release();
      await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === last);
      await sub.events.available(true);
      const got = sub.events.of(topic);
      const oldest = Math.max(2, last - size + 1); // the oldest message history still holds
      assert.deepEqual(
        got.map((m) => m.offset),
        [1, ...Array.from({ length: last - oldest + 1 }, (_, i) => oldest + i)],
      );
      assert.ok(got.every((m) => m.epoch === first.epoch));
      assert.ok(got.every((m) => m.offset < 3 || m.data.equals(payload(m.offset))));
      // The dropped messages came back by a second read of history. (Held, 3-6 would have been
      // delivered from memory with history at 3: the bound is what history keeps, as for MAX_HELD.)
      assert.equal(count(link.clientText, 'CONSUMER.CREATE'), 2);
    });
  }

  // The bounds and the trimmed history together: the read (held at the stream's info) finds history
  // (3) trimmed past what was dropped and past one message held since the drop. That one is
  // delivered from memory before history's; the dropped ones, neither held nor in history, are lost.
  it('past MAX_HELD_BYTES, then history trimmed before the read: the ones held since the drop fill what history lost', {
    timeout: 120_000,
  }, async (t) => {
    const topic = 'overflow-bytes-then-trimmed';
    const SIZE = 768 * 1024; // (under max_payload, 1 MiB, with the headers)
    const dropAt = Math.floor(MAX_HELD_BYTES / SIZE) + 3; // offsets 3 to this one held: past the bytes, all dropped
    const last = dropAt + 4; // 4 held after the drop, history holding the last 3 of them
    const payload = (offset: number): Buffer => Buffer.from(`m${offset}`.padStart(SIZE, '.'));
    const history = { size: 3, ttlSeconds: 0 };
    const { sub, pub, first } = await subscribedWithFirst(t, topic, history);

    const link = await backWithReadHeld(sub, pub, topic, 'STREAM.INFO');
    for (let offset = 3; offset <= last; offset++) await pub.broker.publish(topic, payload(offset), false);
    await env.proxy.until(() => link.serverText.endsWith(`m${last}\r\n`) || undefined);
    assert.equal(sub.events.of(topic).length, 1);

    link.release();
    await sub.events.until(() => sub.events.of(topic).at(-1)?.offset === last);
    await sub.events.available(true);
    const got = sub.events.of(topic);
    assert.deepEqual(
      got.map((m) => m.offset),
      [1, dropAt + 1, dropAt + 2, dropAt + 3, dropAt + 4],
    );
    assert.ok(got.every((m) => m.epoch === first.epoch));
    assert.ok(got.every((m) => m.offset < 3 || m.data.equals(payload(m.offset))));
  });
});

/**
 * RedisBroker when a topic's live messages skip an offset (a hole: an offset taken and kept in
 * history whose publication never reached this process): the message after it waits while the
 * hole is read from history. A gap history could not fill (trimmed, or gone) is taken as it comes,
 * once only: a later hole is read again. Back after a lost link the topic read what it missed, all
 * of it or the part history still had. A TCP proxy in front of Redis cuts the subscribing
 * process's links; the hole is made by an admin connection as the publish script would store it.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { createClient } from 'redis';
import type { HistoryOptions } from '../../src/pubsub/broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder } from '../support/brokers.js';

describe('RedisBroker: a hole after a gap history could not fill is read from history again', () => {
  const env = brokerBehindProxy(() => BrokerProcess.redis());

  async function open(t: TestContext, url: string, kept: HistoryOptions) {
    // (No keep-alive gets in the way: the proxy's cut is the only loss.)
    const broker = new RedisBroker({ url, pingIntervalMs: 600_000 });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, kept);
    return { broker, events };
  }

  /** Runs `commands` on an admin connection of its own. */
  async function admin(commands: string[][]): Promise<unknown[]> {
    const client = createClient({ url: env.server.url });
    client.on('error', () => {});
    await client.connect();
    try {
      const replies: unknown[] = [];
      for (const command of commands) replies.push(await client.sendCommand(command));
      return replies;
    } finally {
      client.destroy();
    }
  }

  /** Takes offset `at` of `topic` and keeps `text` there in history, as the publish script does, its PUBLISH never sent. */
  async function hole(topic: string, at: number, text: string): Promise<void> {
    const base = `ws-stream:{${topic}}`;
    const [offset] = await admin([
      ['INCR', `${base}:o`],
      ['XADD', `${base}:h`, `${at}-0`, 'd', text, 'b', '0', 't', '0', 'n', '0'],
    ]);
    assert.equal(offset, at);
  }

  for (const lost of ['trimmed', 'gone'] as const) {
    const what =
      lost === 'trimmed' ? 'trimmed (history 2: 3-4 read back, 2 lost)' : 'gone (its history deleted: 2-4 lost)';
    it(`back after a lost link, what it missed ${what}: a later hole is still read from history`, async (t) => {
      const topic = `hole-after-${lost}`;
      const kept = { size: 2, ttlSeconds: 0 };
      const sub = await open(t, env.proxy.url('redis'), kept);
      const pub = await open(t, env.server.url, kept);
      await sub.broker.subscribe(topic);
      await sub.broker.position(topic);
      const first = await pub.broker.publish(topic, Buffer.from('m1'), false);
      await sub.events.received(topic, 1);

      env.proxy.cut();
      try {
        await sub.events.available(false);
        for (const text of ['m2', 'm3', 'm4']) await pub.broker.publish(topic, Buffer.from(text), false);
        if (lost === 'gone') await admin([['DEL', `ws-stream:{${topic}}:h`]]);
      } finally {
        env.proxy.restore();
      }
      await sub.events.available(true);
      const back = lost === 'trimmed' ? [3, 4] : [];
      // (Gone: nothing read back; 5, past the gap, is taken as it comes.)
      if (lost === 'gone') back.push((await pub.broker.publish(topic, Buffer.from('m5'), false)).offset);
      await sub.events.received(topic, 1 + back.length);
      const next = back.at(-1)! + 1;
      await hole(topic, next, `m${next}`);
      const after = await pub.broker.publish(topic, Buffer.from(`m${next + 1}`), false);
      assert.deepEqual(after, { offset: next + 1, epoch: first.epoch });
      await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === next + 1));
      assert.deepEqual(
        sub.events.of(topic).map((m) => [m.offset, m.epoch, m.data.toString()]),
        [1, ...back, next, next + 1].map((offset) => [offset, first.epoch, `m${offset}`]),
      );
    });
  }

  // A hole read when history was trimmed past it but still holds what follows (history 2: 3-4):
  // 2 is lost, 3-4 delivered. That gap is taken only for itself: the next hole, 5, is still in
  // history, and is read (taken as accepted too, 6 was delivered at once and 5 lost).
  it('a hole trimmed from history, the ones after it read back: the next hole is read from history too', async (t) => {
    const topic = 'hole-trimmed-then-hole';
    const kept = { size: 2, ttlSeconds: 0 };
    const sub = await open(t, env.server.url, kept);
    const pub = await open(t, env.server.url, kept);
    await sub.broker.subscribe(topic);
    await sub.broker.position(topic);
    const first = await pub.broker.publish(topic, Buffer.from('m1'), false);
    await sub.events.received(topic, 1);

    await hole(topic, 2, 'm2');
    await hole(topic, 3, 'm3');
    await pub.broker.publish(topic, Buffer.from('m4'), false); // (history 3-4 now)
    await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === 4));
    await hole(topic, 5, 'm5');
    await pub.broker.publish(topic, Buffer.from('m6'), false);
    await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === 6));
    assert.deepEqual(
      sub.events.of(topic).map((m) => [m.offset, m.epoch, m.data.toString()]),
      [1, 3, 4, 5, 6].map((offset) => [offset, first.epoch, `m${offset}`]),
    );
  });

  // A hole whose history is gone while the read of it runs (the read held at the proxy, the
  // topic's history deleted meanwhile): the gap is taken, and m3, held behind it, delivered at
  // once. Before that was checked, m3 (still past the hole) sent the topic back to history, which
  // found nothing again: a read after read, for ever, m3 never delivered.
  it('a hole read when its history is gone: the message held past it is delivered, after one read', async (t) => {
    const topic = 'hole-history-gone';
    const kept = { size: 10, ttlSeconds: 0 };
    const earlier = new Set(env.proxy.links);
    const sub = await open(t, env.proxy.url('redis'), kept);
    const links = [...env.proxy.links].filter((l) => !earlier.has(l)); // (its commands and its subscriber)
    const pub = await open(t, env.server.url, kept);
    await sub.broker.subscribe(topic);
    await sub.broker.position(topic);
    const first = await pub.broker.publish(topic, Buffer.from('m1'), false);
    await sub.events.received(topic, 1);

    // Offset 2 taken, neither kept nor published; m3 then comes live and the read of 2 waits.
    const base = `ws-stream:{${topic}}`;
    assert.deepEqual(await admin([['INCR', `${base}:o`]]), [2]);
    const from = links.map((l) => l.clientText.length);
    const reads = (): number =>
      links.reduce((n, l, i) => n + l.clientText.slice(from[i]).split('EVALSHA').length - 1, 0);
    for (const l of links) l.holdClientFrom('EVALSHA');
    await pub.broker.publish(topic, Buffer.from('m3'), false);
    await env.proxy.until(() => reads() === 1 || undefined);
    await admin([['DEL', `${base}:h`]]);
    for (const l of links) l.release();

    // (Either m3 comes, or the reads go on: one more than the one made is already one too many.)
    await Promise.race([
      sub.events.until(() => sub.events.of(topic).some((m) => m.offset === 3)),
      env.proxy.until(() => reads() > 1 || undefined),
    ]);
    assert.equal(reads(), 1, 'one read of history');
    assert.deepEqual(
      sub.events.of(topic).map((m) => [m.offset, m.epoch, m.data.toString()]),
      [1, 3].map((offset) => [offset, first.epoch, `m${offset}`]),
    );
  });
});

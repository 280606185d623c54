/**
 * NatsBroker holds at most 10,000 live messages per topic while the topic waits (here: its
 * catch-up read after a reconnection, held at a TCP proxy in front of the real nats-server); past
 * that it drops them and reads them back from history, in order, before anything newer: every
 * message arrives once, in offset order, and the proxy shows the second history read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder } from '../support/brokers.js';

const count = (text: string, part: string): number => text.split(part).length - 1;

describe('NatsBroker: more live messages than a topic holds while it waits', () => {
  const brokers: NatsBroker[] = [];
  const env = brokerBehindProxy(() => BrokerProcess.nats(), brokers);
  const kept = { size: 20_000, ttlSeconds: 0 };

  async function open(url: string): Promise<{ broker: NatsBroker; events: BrokerRecorder }> {
    // (No keep-alive gets in the way: the held read is a stall the test chooses to end.)
    const broker = new NatsBroker({ url, pingIntervalMs: 600_000, commandTimeoutMs: 30_000 });
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, kept);
    return { broker, events };
  }

  it('are dropped, then read back from history: every message once, in order', { timeout: 300_000 }, async () => {
    const topic = 'overflow';
    const live = 10_005; // past the 10,000 a topic holds
    const sub = await open(env.proxy.url('nats'));
    const pub = await open(env.server.url);
    await sub.broker.subscribe(topic);
    const first = await pub.broker.publish(topic, Buffer.from('m1'), false);
    await sub.events.received(topic, 1);

    // Away: one message published meanwhile, so that the topic reads history when it is back.
    env.proxy.holding = true;
    (await env.proxy.link(['CONNECT'])).destroy();
    await sub.events.available(false);
    await pub.broker.publish(topic, Buffer.from('m2'), false);

    // Back, with that read (its consumer) kept from the server while the live messages come.
    const link = await env.proxy.link([]);
    link.holdClientFrom('CONSUMER.CREATE');
    env.proxy.holding = false;
    link.release();
    await env.proxy.until(() => link.clientText.includes('CONSUMER.CREATE') || undefined);
    for (let sent = 0; sent < live; sent += 500) {
      const batch = Math.min(500, live - sent);
      await Promise.all(
        Array.from({ length: batch }, (_, i) => pub.broker.publish(topic, Buffer.from(`m${sent + i + 3}`), false)),
      );
    }
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
});

/**
 * RedisBroker: a connection that is slow but still answers is busy, not stalled. Ten `serve
 * --pubsub` clients publishing 32 messages of 4 MB each at once queued half a gigabyte ahead of the
 * keep-alive PING; it was not answered within `commandTimeoutMs`, the pair was replaced and every
 * client of the process met an outage (`broker unavailable`, topics caught up from history). Here a
 * TCP proxy hands Redis's replies on the commands connection to the broker 64 bytes every 20 ms:
 * replies keep coming, the PINGs behind them wait past their deadline, and the pair stays.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Broker } from '../../src/pubsub/broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder } from '../support/brokers.js';

const PUBLISHES = 400; // ~35 bytes of reply each: ~4 s through the slow link, twice the deadline

describe('RedisBroker: a slow connection that still answers', () => {
  const brokers: Broker[] = [];
  const env = brokerBehindProxy(() => BrokerProcess.redis(), brokers);

  it('is not taken for stalled: no outage, every message delivered once, in order', async () => {
    const broker = new RedisBroker({ url: env.proxy.url('redis'), commandTimeoutMs: 2000, pingIntervalMs: 100 });
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    const topic = 'busy';
    await broker.subscribe(topic);
    const first = await broker.publish(topic, Buffer.from('first'), false);
    const commands = await env.proxy.link(['EVALSHA']);

    commands.trickleToClient(64, 20);
    const results = await Promise.allSettled(
      Array.from({ length: PUBLISHES }, (_, i) => broker.publish(topic, Buffer.from(`m${i}`), false)),
    );
    // Those whose replies came after the deadline were refused (the link was slower than it)...
    const refused = results.filter((r) => r.status === 'rejected');
    assert.ok(refused.length > 0, 'the replies were slower than commandTimeoutMs');
    for (const r of refused) assert.equal((r.reason as { code?: string }).code, 'ERR_WS_BROKER_UNAVAILABLE');
    // The rest of the replies, and the PINGs' behind them, come through the slow link: past the
    // PINGs' deadline (no PING is answered before the publishes sent ahead of it).
    await env.proxy.until(() => (commands.heldToClient === 0 || !env.proxy.links.has(commands) ? true : undefined));
    assert.ok(env.proxy.links.has(commands), 'the commands connection was not dropped');
    commands.release();
    // ...but Redis took every one, and no connection was replaced.
    const last = await broker.publish(topic, Buffer.from('last'), false);
    assert.equal(last.offset, first.offset + PUBLISHES + 1);
    const got = await events.received(topic, PUBLISHES + 2);
    assert.deepEqual(
      got.map((m) => m.offset),
      Array.from({ length: PUBLISHES + 2 }, (_, i) => first.offset + i),
    );
    assert.ok(!events.availability.includes(false), `availability: ${events.availability.join(', ')}`);
    assert.equal(env.proxy.links.size, 2, 'the same two connections');
  });
});

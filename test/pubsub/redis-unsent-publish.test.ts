/**
 * RedisBroker: a publish that node-redis could not even write within `commandTimeoutMs` (queued
 * behind a large one on a connection whose peer stopped reading) rejects with
 * ERR_WS_BROKER_UNAVAILABLE saying `Redis: not sent within N ms` (node-redis's own timeout, which
 * ends only the wait to be written, rejects with an error that has no message); the one written
 * ahead of it, never answered, says `Redis: no reply within N ms: the message may have been
 * stored` (Redis may run it yet). A TCP proxy in front of Redis stops reading the commands
 * connection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Broker } from '../../src/pubsub/broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder } from '../support/brokers.js';

// More than the loopback's buffers take (the kernel's send buffer, at most 4 MiB here, and the
// receive buffer, at most 32 MiB): the rest waits in the client's socket, which never drains.
const LARGE = 64 * 1024 * 1024;

describe('RedisBroker: a publish not written within commandTimeoutMs', () => {
  const brokers: Broker[] = [];
  const env = brokerBehindProxy(() => BrokerProcess.redis(), brokers);

  it('rejects with ERR_WS_BROKER_UNAVAILABLE, "Redis: not sent within N ms"; the one written ahead of it, "no reply within N ms"', {
    timeout: 60_000,
  }, async () => {
    const ms = 500; // (its length only decides when they fail)
    const broker = new RedisBroker({ url: env.proxy.url('redis'), commandTimeoutMs: ms, pingIntervalMs: 600_000 });
    brokers.push(broker);
    await broker.open(new BrokerRecorder(), history);
    const topic = 'unsent';
    await broker.publish(topic, Buffer.from('first'), false);
    const commands = await env.proxy.link(['EVALSHA']);
    commands.stopReadingClient();

    // Both reach node-redis in one turn: it writes the large one, finds its socket full and keeps
    // the small one for a 'drain' that never comes.
    const [written, unsent] = await Promise.allSettled([
      broker.publish(topic, Buffer.alloc(LARGE, 0x61), false),
      broker.publish(topic, Buffer.from('small'), false),
    ]);
    assert.equal(written.status, 'rejected');
    assert.equal(unsent.status, 'rejected');
    assert.equal(written.reason.code, 'ERR_WS_BROKER_UNAVAILABLE');
    assert.match(
      written.reason.message,
      new RegExp(`: Redis: no reply within ${ms} ms: the message may have been stored$`),
    );
    assert.equal(unsent.reason.code, 'ERR_WS_BROKER_UNAVAILABLE');
    assert.match(unsent.reason.message, new RegExp(`: Redis: not sent within ${ms} ms$`));
  });
});

/**
 * NatsBroker across a server restart that loses the topic's stream (memory storage) while a check
 * of the topic runs: the check's request is held at a TCP proxy in front of the real nats-server,
 * with the live message it judges, when the server is killed. Back, the topic neither waits on that
 * abandoned check (its request would wait out `commandTimeoutMs`) nor delivers the held message,
 * which is of the lost stream, as the new stream's offset: the new epoch brings its own messages.
 * (Both once made the restart test hang or lose messages.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder } from '../support/brokers.js';

const count = (text: string, part: string): number => text.split(part).length - 1;

describe('NatsBroker: a check under way when the server restarts without the stream', () => {
  const brokers: NatsBroker[] = [];
  const env = brokerBehindProxy(() => BrokerProcess.nats(), brokers);

  async function open(url: string): Promise<{ broker: NatsBroker; events: BrokerRecorder }> {
    // (No keep-alive gets in the way of the held request, and the abandoned check would wait for good.)
    const broker = new NatsBroker({ url, storage: 'memory', pingIntervalMs: 600_000, commandTimeoutMs: 600_000 });
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, { size: 10, ttlSeconds: 0 });
    return { broker, events };
  }

  it('is abandoned, and the held old message is not passed off as the new epoch’s', { timeout: 60_000 }, async () => {
    const topic = 'renewed';
    const sub = await open(env.proxy.url('nats'));
    const pub = await open(env.server.url);
    await sub.broker.subscribe(topic);
    const link = await env.proxy.link(['CONNECT']);
    const reads = count(link.clientText, 'STREAM.INFO');
    // The first message of a stream is checked (a stream read): that read is held.
    link.holdClientFrom('STREAM.INFO');
    const old = await pub.broker.publish(topic, Buffer.from('old'), false);
    await env.proxy.until(() => count(link.clientText, 'STREAM.INFO') > reads || undefined);
    assert.equal(sub.events.of(topic).length, 0);

    await env.server.kill();
    await Promise.all([sub, pub].map((b) => b.events.available(false)));
    await env.server.start();
    await Promise.all([sub, pub].map((b) => b.events.available(true)));
    const renewed = [
      await pub.broker.publish(topic, Buffer.from('new1'), false),
      await pub.broker.publish(topic, Buffer.from('new2'), false),
    ];
    assert.notEqual(renewed[0]!.epoch, old.epoch);
    assert.deepEqual(
      renewed.map((at) => at.offset),
      [1, 2],
    );

    await sub.events.until(() => sub.events.of(topic).filter((m) => m.epoch === renewed[0]!.epoch).length >= 2);
    const got = sub.events.of(topic).filter((m) => m.epoch === renewed[0]!.epoch);
    assert.deepEqual(
      got.map((m) => `${m.offset}:${m.data.toString()}`),
      ['1:new1', '2:new2'],
    );
    // The old stream's message was lost with it (its check never finished): not delivered under any epoch.
    assert.ok(sub.events.of(topic).every((m) => m.data.toString() !== 'old'));
  });
});

/**
 * NatsBroker back from a lost connection while JetStream kept the stream (same epoch): what was
 * published meanwhile is delivered by the broker, from history, before the live messages received
 * while it was catching up, each offset once, in order. A TCP proxy in front of nats-server cuts
 * the subscriber's connection and decides when its bytes get through, so the interleaving (a live
 * message arriving while the broker is still reading where its stream stands) is chosen.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder } from '../support/brokers.js';

describe('NatsBroker: after a reconnection, the missed messages come before the live ones', () => {
  const brokers: NatsBroker[] = [];
  const env = brokerBehindProxy(() => BrokerProcess.nats(), brokers);

  async function open(url: string): Promise<{ broker: NatsBroker; events: BrokerRecorder }> {
    // (No keep-alive gets in the way: a held link is a stall the test chooses to end.)
    const broker = new NatsBroker({ url, pingIntervalMs: 600_000 });
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    return { broker, events };
  }

  it('a message published while the subscriber was away, then one arriving live while it catches up: 2 then 3', async () => {
    const topic = 'reconnect';
    const sub = await open(env.proxy.url('nats')); // its connection goes through the proxy
    const pub = await open(env.server.url);
    await sub.broker.subscribe(topic);
    const first = await pub.broker.publish(topic, Buffer.from('before'), false);
    await sub.events.received(topic, 1);

    env.proxy.holding = true;
    (await env.proxy.link(['CONNECT'])).destroy();
    await sub.events.available(false);
    const missed = await pub.broker.publish(topic, Buffer.from('missed'), false);
    assert.deepEqual(missed, { offset: 2, epoch: first.epoch });

    // Back (its new connection, the only one: the server speaks first, so nothing is written yet):
    // let it subscribe again, but keep its first JetStream request (where the stream stands) from
    // the server until a live message has reached it.
    const link = await env.proxy.link([]);
    link.holdClientFrom('STREAM.INFO');
    env.proxy.holding = false;
    link.release();
    await env.proxy.until(() => link.clientText.includes('STREAM.INFO') || undefined);
    const live = await pub.broker.publish(topic, Buffer.from('live'), false);
    await env.proxy.until(() => link.serverText.includes('live') || undefined);
    link.release();

    await sub.events.until(() => sub.events.of(topic).some((m) => m.offset === live.offset));
    await sub.events.available(true);
    assert.deepEqual(
      sub.events.of(topic).map((m) => [m.offset, m.epoch, m.data.toString()]),
      [
        [1, first.epoch, 'before'],
        [2, first.epoch, 'missed'],
        [3, first.epoch, 'live'],
      ],
    );
  });
});

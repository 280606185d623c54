/**
 * A publication of a process that subscribes its topic settles only once the message was delivered
 * on that process (OwnDeliveries), with Redis and NATS as with the in-memory and cluster brokers:
 * so `serve --pubsub` can deliver a client's own publish to it before acting on its unsubscribe
 * (found by the independent checker). For Redis, a TCP proxy stalls the subscriber connection, so
 * the reply to the publish is known to arrive first.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { BrokerProcess, BrokerRecorder, brokerBehindProxy } from '../support/brokers.js';

const history = { size: 100, ttlSeconds: 300 };

describe('RedisBroker: publish settles after its own delivery', () => {
  const env = brokerBehindProxy(() => BrokerProcess.redis());

  it('the reply to the publish is in, the message is held on the subscriber connection: not settled until it is delivered', async (t) => {
    // (No keep-alive and no deadline get in the way: the stall is the test's.)
    const broker = new RedisBroker({ url: env.proxy.url('redis'), commandTimeoutMs: 600_000, pingIntervalMs: 600_000 });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, history);
    const topic = 'own';
    await broker.subscribe(topic);
    const subscriberLink = await env.proxy.link(['subscribe']);
    subscriberLink.stall();
    let settled = false;
    const published = broker.publish(topic, Buffer.from('mine'), false).then((at) => {
      settled = true;
      return at;
    });
    // A command sent after the publish on the same connection is answered after it (RESP keeps
    // the order): once it is, the publish's reply has been read too.
    await broker.position('another topic');
    assert.equal(settled, false, 'settled before its message was delivered here');
    assert.equal(events.of(topic).length, 0);
    subscriberLink.release();
    const at = await published;
    assert.deepEqual(
      events.of(topic).map((m) => [m.offset, m.epoch, m.data.toString()]),
      [[at.offset, at.epoch, 'mine']],
    );
    // Not subscribed here: settled on the reply alone.
    const other = await broker.publish('not subscribed', Buffer.from('x'), false);
    assert.equal(other.offset, 1);
  });
});

describe('NatsBroker: publish settles after its own delivery', () => {
  const env = brokerBehindProxy(() => BrokerProcess.nats());

  it('each awaited publish of a subscribed topic has been delivered when it settles', async (t) => {
    const broker = new NatsBroker({ url: env.server.url, commandTimeoutMs: 600_000 });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, history);
    const topic = 'own';
    await broker.subscribe(topic);
    for (let i = 0; i < 30; i++) {
      const at = await broker.publish(topic, Buffer.from(`m${i}`), false);
      const got = events.of(topic).map((m) => [m.offset, m.data.toString()]);
      assert.deepEqual(got.at(-1), [at.offset, `m${i}`], `publish ${i} settled before its delivery`);
    }
  });
});

describe('RedisBroker: a publish made while its topic is being subscribed here', () => {
  const env = brokerBehindProxy(() => BrokerProcess.redis());

  it('published before the SUBSCRIBE reached Redis (never delivered live): settles once the position read passes it', {
    timeout: 120_000,
  }, async (t) => {
    const broker = new RedisBroker({ url: env.proxy.url('redis'), commandTimeoutMs: 600_000, pingIntervalMs: 600_000 });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, history);
    const topic = 'early';
    for (const link of env.proxy.links) link.holdClientFrom('subscribe');
    const subscribed = broker.subscribe(topic);
    const subscriberLink = await env.proxy.link(['subscribe']);
    let settled = false;
    const published = broker.publish(topic, Buffer.from('before the subscription'), false).then((at) => {
      settled = true;
      return at;
    });
    await broker.position('another topic'); // the publish's reply is in (RESP keeps the order)
    assert.equal(settled, false);
    subscriberLink.release();
    await subscribed;
    // What PubSub does next with a new subscription: it reads where the topic stands.
    const at = await broker.position(topic);
    const own = await published;
    assert.deepEqual([own.offset, own.epoch], [at.offset, at.epoch]);
    assert.equal(events.of(topic).length, 0, 'published before the subscription: not delivered here');
  });
});

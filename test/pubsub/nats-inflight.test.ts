/**
 * NatsBroker on JetStream: a publish whose request is in flight when the connection is lost
 * rejects at the loss with ERR_WS_BROKER_UNAVAILABLE (as RedisBroker refuses a command in flight),
 * not once `commandTimeoutMs` has passed. Here `commandTimeoutMs` is ten minutes: without that,
 * the publish is still pending when the broker is back, which the tests assert it is not. A TCP
 * proxy in front of nats-server decides what reaches the server and when the link is cut; what the
 * server stored is still delivered after the reconnection, once, in order. So does a publish
 * acknowledged by a stream made again since the publisher looked, while it reads that stream's epoch,
 * and a read of a topic's position or history (`PubSub` reads again once the broker is back). A publish
 * in flight when the broker is closed says the same as at a loss (the message may have been stored).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { WebSocketError } from '../../src/errors.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import {
  BrokerProcess,
  brokerBehindProxy,
  BrokerRecorder,
  follow,
  type Outcome,
  type ProxyLink,
} from '../support/brokers.js';

const mayBeStored = /connection was lost while the publish was in flight: the message may have been stored/;

function assertLost(outcome: Outcome, message = mayBeStored): void {
  assert.equal(outcome.settled, true, 'the request in flight has not settled though the broker is back');
  assert.ok(outcome.error instanceof WebSocketError, `rejected: ${String(outcome.error)}`);
  assert.equal(outcome.error.code, 'ERR_WS_BROKER_UNAVAILABLE');
  assert.match(outcome.error.message, message);
}

describe('NatsBroker: a publish or a read in flight when the connection is lost rejects at the loss', () => {
  const brokers: NatsBroker[] = [];
  const env = brokerBehindProxy(() => BrokerProcess.nats(), brokers);

  async function open(url: string): Promise<{ broker: NatsBroker; events: BrokerRecorder }> {
    // (No keep-alive gets in the way: a held link is a stall the test chooses to end.)
    const broker = new NatsBroker({ url, commandTimeoutMs: 600_000, pingIntervalMs: 600_000 });
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    return { broker, events };
  }

  /** The publisher's connection through the proxy (opened last: one of a test before may be open too). */
  function newestLink(): ProxyLink {
    const link = [...env.proxy.links].at(-1);
    assert.ok(link);
    return link;
  }

  it('the network cut while the message is on its way: rejected, never stored; the next one takes its offset', async () => {
    const topic = 'cut';
    const pub = await open(env.proxy.url('nats'));
    const first = await pub.broker.publish(topic, Buffer.from('first'), false);
    const link = newestLink();
    const sent = (): number => link.clientText.split('PUB ws-stream.in.').length - 1;
    const before = sent();
    link.holdClientFrom('PUB ws-stream.in.');
    const held = follow(pub.broker.publish(topic, Buffer.from('held'), false));
    await env.proxy.until(() => (sent() > before ? true : undefined));

    env.proxy.cut();
    await pub.events.available(false);
    env.proxy.restore();
    await pub.events.available(true);
    assertLost(held);
    // The first one kept its result; the held one never reached the server.
    assert.deepEqual(first, { offset: 1, epoch: first.epoch });
    assert.deepEqual(await pub.broker.publish(topic, Buffer.from('next'), false), { offset: 2, epoch: first.epoch });
    assert.deepEqual(
      (await pub.broker.history(topic, { offset: 0, epoch: first.epoch }))?.map((m) => m.data.toString()),
      ['first', 'next'],
    );
  });

  it('the broker closed while the message is on its way: rejected as a loss in flight, saying it may have been stored', async () => {
    // As RedisBroker says of a publish its close() cut off, not the client's bare "closed connection".
    const topic = 'closed';
    const pub = await open(env.proxy.url('nats'));
    await pub.broker.publish(topic, Buffer.from('first'), false);
    const link = newestLink();
    const sent = (): number => link.clientText.split('PUB ws-stream.in.').length - 1;
    const before = sent();
    link.holdClientFrom('PUB ws-stream.in.');
    const held = follow(pub.broker.publish(topic, Buffer.from('held'), false));
    await env.proxy.until(() => (sent() > before ? true : undefined));

    await pub.broker.close();
    await new Promise((resolve) => setImmediate(resolve));
    assertLost(held);
  });

  it("the network cut while the topic's stream is being made: rejected, nothing sent; published again, it takes offset 1", async () => {
    const topic = 'new';
    const pub = await open(env.proxy.url('nats'));
    const link = newestLink();
    link.holdClientFrom('$JS.API.STREAM.CREATE.');
    const held = follow(pub.broker.publish(topic, Buffer.from('held'), false));
    await env.proxy.until(() => (link.clientText.includes('$JS.API.STREAM.CREATE.') ? true : undefined));

    env.proxy.cut();
    await pub.events.available(false);
    env.proxy.restore();
    await pub.events.available(true);
    assertLost(held, /connection was lost before the message was sent: it was not stored/);
    const again = await pub.broker.publish(topic, Buffer.from('again'), false);
    assert.equal(again.offset, 1);
    assert.deepEqual(
      (await pub.broker.history(topic, { offset: 0, epoch: again.epoch }))?.map((m) => m.data.toString()),
      ['again'],
    );
  });

  it("the network cut while an acknowledged publish reads its stream's new epoch (deleted and made again): rejected, stored", async () => {
    const topic = 'remade';
    const pub = await open(env.proxy.url('nats'));
    const old = [
      await pub.broker.publish(topic, Buffer.from('a'), false),
      await pub.broker.publish(topic, Buffer.from('b'), false),
    ];
    // An operator deletes the stream and makes it again: the publisher's next acknowledgement is
    // offset 1, below what it saw, so it reads the stream's epoch, and that request is held.
    const name = `ws-stream_${createHash('sha256').update(topic).digest('hex').slice(0, 40)}`;
    const admin = await connect({ servers: env.server.url });
    let remade: string;
    try {
      const jsm = await jetstreamManager(admin);
      const info = await jsm.streams.info(name);
      await jsm.streams.delete(name);
      remade = (await jsm.streams.add(info.config)).created;
    } finally {
      await admin.close();
    }
    assert.notEqual(remade, old[0]!.epoch);
    const link = newestLink();
    const reads = (): number => link.clientText.split(`$JS.API.STREAM.INFO.${name}`).length - 1;
    const before = reads();
    link.holdClientFrom(`$JS.API.STREAM.INFO.${name}`);
    const held = follow(pub.broker.publish(topic, Buffer.from('stored'), false));
    await env.proxy.until(() => (reads() > before ? true : undefined));

    env.proxy.cut();
    await pub.events.available(false);
    env.proxy.restore();
    await pub.events.available(true);
    assertLost(
      held,
      /connection was lost while the epoch of the stream that stored the message was read: the message was stored \(offset 1\)/,
    );
    // It was stored at offset 1 of the stream made again; the next one follows it.
    assert.deepEqual(await pub.broker.publish(topic, Buffer.from('next'), false), { offset: 2, epoch: remade });
    assert.deepEqual(
      (await pub.broker.history(topic, { offset: 0, epoch: remade }))?.map((m) => m.data.toString()),
      ['stored', 'next'],
    );
  });

  it("the network cut while a topic's position is read: rejected at the loss; read again once back", async () => {
    const topic = 'position';
    const pub = await open(env.proxy.url('nats'));
    const first = await pub.broker.publish(topic, Buffer.from('first'), false);
    const link = newestLink();
    const reads = (): number => link.clientText.split('$JS.API.STREAM.INFO.').length - 1;
    const before = reads();
    link.holdClientFrom('$JS.API.STREAM.INFO.');
    const held = follow(pub.broker.position(topic));
    await env.proxy.until(() => (reads() > before ? true : undefined));

    env.proxy.cut();
    await pub.events.available(false);
    env.proxy.restore();
    await pub.events.available(true);
    assertLost(held, /connection was lost while the topic's position was read/);
    assert.deepEqual(await pub.broker.position(topic), { offset: 1, epoch: first.epoch });
  });

  it("the network cut while a topic's history is fetched: rejected at the loss; read again once back", async () => {
    const topic = 'history';
    const pub = await open(env.proxy.url('nats'));
    const first = await pub.broker.publish(topic, Buffer.from('first'), false);
    await pub.broker.publish(topic, Buffer.from('second'), false);
    const link = newestLink();
    // (The stream's info passes: the consumer that reads the messages is held.)
    const reads = (): number => link.clientText.split('$JS.API.CONSUMER.').length - 1;
    const before = reads();
    link.holdClientFrom('$JS.API.CONSUMER.');
    const held = follow(pub.broker.history(topic, { offset: 0, epoch: first.epoch }));
    await env.proxy.until(() => (reads() > before ? true : undefined));

    env.proxy.cut();
    await pub.events.available(false);
    env.proxy.restore();
    await pub.events.available(true);
    assertLost(held, /connection was lost while the topic's history was read/);
    assert.deepEqual(
      (await pub.broker.history(topic, { offset: 0, epoch: first.epoch }))?.map((m) => m.data.toString()),
      ['first', 'second'],
    );
  });

  it("the network cut while a topic's stream is read for a subscription: rejected at the loss; subscribed again once back, it delivers", async () => {
    const topic = 'subscribed';
    const pub = await open(env.proxy.url('nats'));
    const first = await pub.broker.publish(topic, Buffer.from('first'), false);
    const sub = await open(env.proxy.url('nats'));
    const link = newestLink();
    const reads = (): number => link.clientText.split('$JS.API.STREAM.INFO.').length - 1;
    const before = reads();
    link.holdClientFrom('$JS.API.STREAM.INFO.');
    const held = follow(sub.broker.subscribe(topic));
    await env.proxy.until(() => (reads() > before ? true : undefined));

    env.proxy.cut();
    await sub.events.available(false);
    env.proxy.restore();
    await sub.events.available(true);
    assertLost(held, /connection was lost while the topic was subscribed to/);
    // (The publisher's link was cut too.)
    await pub.events.until(() => pub.events.availability.includes(false) && pub.events.availability.at(-1) === true);
    await sub.broker.subscribe(topic);
    assert.deepEqual(await sub.broker.position(topic), { offset: 1, epoch: first.epoch });
    const second = await pub.broker.publish(topic, Buffer.from('second'), false);
    await sub.events.received(topic, 1);
    assert.deepEqual(
      sub.events.of(topic).map((m) => [m.offset, m.epoch, m.data.toString()]),
      [[second.offset, first.epoch, 'second']],
    );
  });

  it('the server killed after storing it, its answer not back: rejected; delivered after the restart, once, in order', async () => {
    const topic = 'killed';
    const pub = await open(env.proxy.url('nats')); // subscribed too: it would wait for its own delivery
    const sub = await open(env.server.url);
    await pub.broker.subscribe(topic);
    await sub.broker.subscribe(topic);
    const first = await pub.broker.publish(topic, Buffer.from('first'), false);
    await sub.events.received(topic, 1);
    await pub.events.received(topic, 1);

    // From now on the server's bytes to the publisher are held (one byte per ten minutes): the
    // message reaches the server, which stores it, but neither its answer nor its delivery comes back.
    const link = newestLink();
    link.trickleToClient(1, 600_000);
    const stored = follow(pub.broker.publish(topic, Buffer.from('stored'), false));
    await sub.events.received(topic, 2);

    await env.server.kill();
    await pub.events.available(false);
    await sub.events.available(false);
    await env.server.start();
    await pub.events.available(true);
    await sub.events.available(true);
    assertLost(stored);
    assert.deepEqual(first, { offset: 1, epoch: first.epoch });

    const after = await pub.broker.publish(topic, Buffer.from('after'), false);
    assert.deepEqual(after, { offset: 3, epoch: first.epoch });
    await sub.events.received(topic, 3);
    for (const { events } of [pub, sub]) {
      assert.deepEqual(
        events.of(topic).map((m) => [m.offset, m.epoch, m.data.toString()]),
        [
          [1, first.epoch, 'first'],
          [2, first.epoch, 'stored'],
          [3, first.epoch, 'after'],
        ],
      );
    }
  });
});

describe('NatsBroker on core NATS: a publish in flight when the connection is lost rejects at the loss', () => {
  const brokers: NatsBroker[] = [];
  const env = brokerBehindProxy(() => BrokerProcess.nats({ jetstream: false }), brokers);

  it('the network cut while its flush waits: rejected as the loss is reported, not at the first reconnection attempt', async () => {
    // The client rejects a flush itself when it tries to connect again: a day away here.
    const broker = new NatsBroker({
      url: env.proxy.url('nats'),
      commandTimeoutMs: 600_000,
      pingIntervalMs: 600_000,
      reconnectTimeWaitMs: 86_400_000,
    });
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    assert.equal(broker.jetstream, false);
    await broker.publish('core', Buffer.from('first'), false);
    const link = [...env.proxy.links].at(-1)!;
    const sent = (): number => link.clientText.split('PUB ws-stream.out.').length - 1;
    const before = sent();
    link.holdClientFrom('PUB ws-stream.out.');
    const held = follow(broker.publish('core', Buffer.from('held'), false));
    await env.proxy.until(() => (sent() > before ? true : undefined));

    env.proxy.cut();
    await events.available(false);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(held.settled, true, 'the publish in flight has not settled though the loss was reported');
    assert.ok(held.error instanceof WebSocketError, `rejected: ${String(held.error)}`);
    assert.equal(held.error.code, 'ERR_WS_BROKER_UNAVAILABLE');
    assert.match(
      held.error.message,
      /connection was lost while the publish was in flight: the message may have been delivered/,
    );
  });
});

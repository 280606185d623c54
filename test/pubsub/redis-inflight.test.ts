/**
 * RedisBroker: every operation a caller waits on that is in flight when the connection is lost (the
 * network cut, Redis killed) rejects at the loss with ERR_WS_BROKER_UNAVAILABLE, its message telling
 * what was in flight (a publish: the message may have been stored), not once `commandTimeoutMs`
 * has passed: here it is ten minutes, and each test asserts the operation settled as the loss was
 * reported. An `unsubscribe` in flight then, or made while Redis is down, resolves, and its channel
 * is not left subscribed by the reconnection (node-redis subscribes again every channel whose
 * UNSUBSCRIBE it did not see confirmed). A TCP proxy in front of redis-server holds the command,
 * and cuts the links.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { createClient } from 'redis';
import { WebSocketError } from '../../src/errors.js';
import { RedisBroker } from '../../src/pubsub/redis-broker.js';
import { history } from '../support/broker-suite.js';
import {
  BrokerProcess,
  brokerBehindProxy,
  BrokerRecorder,
  follow,
  type Outcome,
  type ProxyLink,
} from '../support/brokers.js';

/** Lets every callback already due run (the rejections of what the loss failed). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function assertLost(outcome: Outcome, message: RegExp): void {
  assert.equal(outcome.settled, true, 'the operation in flight has not settled though the loss was reported');
  assert.ok(outcome.error instanceof WebSocketError, `rejected: ${String(outcome.error)}`);
  assert.equal(outcome.error.code, 'ERR_WS_BROKER_UNAVAILABLE');
  assert.match(outcome.error.message, message);
}

describe('RedisBroker: an operation in flight when the connection is lost rejects at the loss', () => {
  const env = brokerBehindProxy(() => BrokerProcess.redis());

  /** A broker through the proxy, with its two links (commands, subscriber). */
  async function open(
    t: TestContext,
    url = env.proxy.url('redis'),
  ): Promise<{ broker: RedisBroker; events: BrokerRecorder; commands: ProxyLink; subscriber: ProxyLink }> {
    const old = new Set(env.proxy.links);
    // (No keep-alive gets in the way: a held link is a stall the test chooses to end.)
    const broker = new RedisBroker({ url, commandTimeoutMs: 600_000, pingIntervalMs: 600_000 });
    t.after(() => broker.close());
    const events = new BrokerRecorder();
    await broker.open(events, history);
    const fresh = (): ProxyLink[] => [...env.proxy.links].filter((l) => !old.has(l));
    const commands = fresh().find((l) => l.clientText.includes('SCRIPT'));
    const subscriber = fresh().find((l) => !l.clientText.includes('SCRIPT'));
    return { broker, events, commands: commands!, subscriber: subscriber! };
  }

  /**
   * Holds `link`'s bytes from the next `text` the client writes on, starts `operation`, and returns
   * its outcome once that `text` is written (the command in flight, never reaching Redis whole).
   */
  async function inFlight(link: ProxyLink, text: string, operation: () => Promise<unknown>): Promise<Outcome> {
    const count = (): number => link.clientText.split(text).length;
    const before = count();
    link.holdClientFrom(text);
    const outcome = follow(operation());
    await env.proxy.until(() => (count() > before ? true : undefined));
    return outcome;
  }

  /** Cuts every link, waits for the loss to be reported, then lets them back and waits for the broker. */
  async function cutAndRestore(events: BrokerRecorder, atLoss: () => void): Promise<void> {
    env.proxy.cut();
    await events.available(false);
    await settle();
    try {
      atLoss();
    } finally {
      env.proxy.restore();
      await events.available(true);
    }
  }

  it('a publish whose script is on its way: rejected, "may have been stored" (here it was not); the next takes its offset', async (t) => {
    const topic = 'cut';
    const pub = await open(t);
    const first = await pub.broker.publish(topic, Buffer.from('first'), false);
    const held = await inFlight(pub.commands, 'EVALSHA', () => pub.broker.publish(topic, Buffer.from('held'), false));
    await cutAndRestore(pub.events, () =>
      assertLost(held, /connection was lost while the publish was in flight: the message may have been stored/),
    );
    assert.deepEqual(await pub.broker.publish(topic, Buffer.from('next'), false), { offset: 2, epoch: first.epoch });
  });
  it('a publish Redis ran, its answer held, Redis killed: rejected, "may have been stored"; a subscriber got it', async (t) => {
    const topic = 'killed';
    const pub = await open(t);
    const sub = await open(t, env.server.url); // (straight to Redis: its messages pass)
    await sub.broker.subscribe(topic);
    const first = await pub.broker.publish(topic, Buffer.from('first'), false);
    await sub.events.received(topic, 1);
    // From now on Redis's bytes to the publisher are held: the script runs, its answer never comes.
    pub.commands.trickleToClient(1, 600_000);
    const stored = follow(pub.broker.publish(topic, Buffer.from('stored'), false));
    await sub.events.received(topic, 2);
    await env.server.kill();
    await pub.events.available(false);
    await settle();
    try {
      assertLost(stored, /connection was lost while the publish was in flight: the message may have been stored/);
    } finally {
      await env.server.start();
      await pub.events.available(true);
    }
    assert.deepEqual(
      sub.events.of(topic).map((m) => [m.offset, m.epoch, m.data.toString()]),
      [
        [1, first.epoch, 'first'],
        [2, first.epoch, 'stored'],
      ],
    );
  });

  it('a publish made once the loss is known: rejected at once, "not stored"', async (t) => {
    const pub = await open(t);
    const old = new Set(env.proxy.links);
    env.proxy.cut();
    try {
      // Both connections being made again (held by the proxy): each knows its loss.
      await env.proxy.until(() => ([...env.proxy.links].filter((l) => !old.has(l)).length >= 2 ? true : undefined));
      await assert.rejects(pub.broker.publish('unsent', Buffer.from('unsent'), false), {
        code: 'ERR_WS_BROKER_UNAVAILABLE',
        message: `the pub/sub broker is unavailable: no connection to ${env.proxy.url('redis')}: the message was not stored`,
      });
    } finally {
      env.proxy.restore();
      await pub.events.available(true);
    }
  });

  it("a read of a topic's position: rejected at the loss; read again once back", async (t) => {
    const topic = 'position';
    const pub = await open(t);
    const first = await pub.broker.publish(topic, Buffer.from('first'), false);
    const held = await inFlight(pub.commands, 'EVALSHA', () => pub.broker.position(topic));
    await cutAndRestore(pub.events, () => assertLost(held, /connection was lost while the topic's position was read/));
    assert.deepEqual(await pub.broker.position(topic), { offset: 1, epoch: first.epoch });
  });

  it("a read of a topic's history: rejected at the loss; read again once back", async (t) => {
    const topic = 'history';
    const pub = await open(t);
    const first = await pub.broker.publish(topic, Buffer.from('first'), false);
    await pub.broker.publish(topic, Buffer.from('second'), false);
    const since = { offset: 0, epoch: first.epoch };
    const held = await inFlight(pub.commands, 'EVALSHA', () => pub.broker.history(topic, since));
    await cutAndRestore(pub.events, () => assertLost(held, /connection was lost while the topic's history was read/));
    assert.deepEqual(
      (await pub.broker.history(topic, since))?.map((m) => m.data.toString()),
      ['first', 'second'],
    );
  });

  it('a subscribe whose SUBSCRIBE is on its way: rejected at the loss; subscribed again once back, it delivers', async (t) => {
    const topic = 'subscribed';
    const sub = await open(t);
    const held = await inFlight(sub.subscriber, 'subscribe', () => sub.broker.subscribe(topic));
    await cutAndRestore(sub.events, () => assertLost(held, /connection was lost while the topic was subscribed to/));
    await sub.broker.subscribe(topic);
    const at = await sub.broker.publish(topic, Buffer.from('after'), false);
    assert.deepEqual(
      (await sub.events.received(topic, 1)).map((m) => [m.offset, m.epoch, m.data.toString()]),
      [[at.offset, at.epoch, 'after']],
    );
  });

  // A subscribe refused (its user may no longer run SUBSCRIBE): a publish of the topic made
  // meanwhile, waiting to see its own delivery there, settles with the refusal, not by its deadline
  // (`commandTimeoutMs`, ten minutes here).
  it('a subscribe refused while a publish of its topic waits for its own delivery: the publish settles with the refusal', async (t) => {
    const topic = 'refused-subscribe';
    const sub = await open(t);
    const admin = createClient({ url: env.server.url });
    await admin.connect();
    t.after(async () => {
      await admin.sendCommand(['ACL', 'SETUSER', 'default', '+subscribe']);
      admin.destroy();
    });
    await admin.sendCommand(['ACL', 'SETUSER', 'default', '-subscribe']);
    sub.subscriber.holdClientFrom('subscribe');
    const subscribing = follow(sub.broker.subscribe(topic));
    await env.proxy.until(() => sub.subscriber.clientText.includes('subscribe') || undefined);
    const from = sub.commands.serverText.length;
    const publishing = follow(sub.broker.publish(topic, Buffer.from('meanwhile'), false));
    await env.proxy.until(() => sub.commands.serverText.slice(from).includes(':1\r\n') || undefined);
    await settle();
    assert.deepEqual([subscribing, publishing], [{ settled: false }, { settled: false }]);

    sub.subscriber.release();
    await env.proxy.until(() => sub.subscriber.serverText.includes('NOPERM') || undefined);
    while (!subscribing.settled) await settle(); // (the refusal read by the broker)
    await settle();
    assert.ok(subscribing.error instanceof WebSocketError, `rejected: ${String(subscribing.error)}`);
    assert.equal(subscribing.error.code, 'ERR_WS_BROKER_REFUSED');
    assert.deepEqual(publishing, { settled: true }, 'the publish waits for a delivery that will not come');
  });

  it('an unsubscribe whose UNSUBSCRIBE is on its way: resolved at the loss; the channel is not subscribed again once back', async (t) => {
    const topic = 'left';
    const sub = await open(t);
    await sub.broker.subscribe(topic);
    const held = await inFlight(sub.subscriber, 'unsubscribe', () => sub.broker.unsubscribe(topic));
    await cutAndRestore(sub.events, () => {
      assert.equal(held.settled, true, 'the unsubscribe in flight has not settled though the loss was reported');
      assert.equal(held.error, undefined);
    });
    // Another topic subscribed once back: its SUBSCRIBE follows, on the same connection, every
    // channel subscribed again by the reconnection, and anything the broker sent since.
    await sub.broker.subscribe('other');
    const admin = createClient({ url: env.server.url });
    await admin.connect();
    try {
      const count = async (channel: string): Promise<number | undefined> =>
        (await admin.pubSubNumSub(channel))[channel];
      assert.equal(await count('ws-stream:other'), 1);
      assert.equal(await count('ws-stream:left'), 0, 'the channel left is subscribed again');
    } finally {
      admin.destroy();
    }
  });
  it('an unsubscribe while Redis is down (killed): resolved at once; the channel is not subscribed again once back', async (t) => {
    const topic = 'left-down';
    const sub = await open(t);
    await sub.broker.subscribe(topic);
    await env.server.kill();
    await sub.events.available(false);
    try {
      // (Its UNSUBSCRIBE waits in node-redis, failed by the reconnection attempts meanwhile.)
      await sub.broker.unsubscribe(topic);
    } finally {
      await env.server.start();
      await sub.events.available(true);
    }
    await sub.broker.subscribe('other-down');
    const admin = createClient({ url: env.server.url });
    await admin.connect();
    try {
      const count = async (channel: string): Promise<number | undefined> =>
        (await admin.pubSubNumSub(channel))[channel];
      assert.equal(await count('ws-stream:other-down'), 1);
      assert.equal(await count('ws-stream:left-down'), 0, 'the channel left is subscribed again');
    } finally {
      admin.destroy();
    }
  });

  for (const end of ['unsubscribe', 'close'] as const) {
    const what = end === 'close' ? 'the broker is closed' : 'the topic is left';
    it(`a publish that waits for its own delivery here settles as soon as ${what} (that delivery will not come)`, async (t) => {
      const { broker, subscriber } = await open(t);
      const topic = `waiting-${end}`;
      await broker.subscribe(topic);
      await broker.position(topic);
      subscriber.stall(); // the publication's delivery never reaches this process
      const published = follow(broker.publish(topic, Buffer.from('x'), false));
      // Answered after the publish, on the same connection: the publish has its reply, and waits.
      await broker.position(topic);
      await settle();
      assert.equal(published.settled, false, 'waits for its delivery (commandTimeoutMs: 10 minutes)');
      // (An UNSUBSCRIBE waits behind the stall.)
      const ended = end === 'close' ? broker.close() : broker.unsubscribe(topic);
      await settle();
      assert.equal(published.settled, true, `settled once ${what}`);
      assert.equal(published.error, undefined);
      subscriber.release();
      await ended;
    });
  }

  it('a publish delivered here before its reply came settles with the reply (nothing left to wait for)', async (t) => {
    const { broker, events, commands } = await open(t);
    const topic = 'delivered-first';
    await broker.subscribe(topic);
    await broker.position(topic);
    commands.trickleToClient(1, 600_000); // Redis's replies on the command link held (a byte per 10 minutes)
    const published = follow(broker.publish(topic, Buffer.from('x'), false));
    await events.received(topic, 1);
    commands.release();
    // Answered after the publish, on the same connection.
    await broker.position(topic);
    await settle();
    assert.equal(published.settled, true, 'settled with its reply, not after commandTimeoutMs (10 minutes)');
    assert.equal(published.error, undefined);
  });
});

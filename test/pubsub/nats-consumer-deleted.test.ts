/**
 * NatsBroker on JetStream: the consumer a history read (a recovery's `since`) makes is deleted by an
 * operator under the read. The read is made again at once with a new consumer from the next
 * sequence, a bounded number of times: it returns every message after `since`, in order, none twice
 * (before, it failed with ERR_WS_BROKER_UNAVAILABLE, and the recovery with it). A TCP proxy in front
 * of nats-server holds the broker's pull for its consumer while the test, as an operator on its own
 * connection, lists the stream's consumers and deletes the one there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { WebSocketError } from '../../src/errors.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, brokerBehindProxy, BrokerRecorder, natsStreamOf, type ProxyLink } from '../support/brokers.js';

const PULL = 'CONSUMER.MSG.NEXT';

describe('NatsBroker: a history read whose consumer is deleted under it', () => {
  const brokers: NatsBroker[] = [];
  const env = brokerBehindProxy(() => BrokerProcess.nats(), brokers);
  let admin: NatsConnection;
  let jsm: JetStreamManager;
  before(async () => {
    admin = await connect({ servers: env.server.url });
    jsm = await jetstreamManager(admin);
  });
  after(() => admin.close());

  /** A broker through the proxy with `count` messages in `topic`; its link to the server. */
  async function published(topic: string, count: number) {
    // (No keep-alive gets in the way: a held pull holds the link's PINGs too.)
    const broker = new NatsBroker({ url: env.proxy.url('nats'), pingIntervalMs: 600_000 });
    brokers.push(broker);
    await broker.open(new BrokerRecorder(), history);
    const link = [...env.proxy.links].at(-1);
    assert.ok(link);
    let epoch = '';
    for (let i = 1; i <= count; i++) {
      const at = await broker.publish(topic, Buffer.from(`m${i}`), false);
      assert.equal(at.offset, i);
      epoch = at.epoch;
    }
    return { broker, link, epoch };
  }

  /** Deletes, as an operator would, the one consumer `topic`'s stream has now (the read's). */
  async function deleteTheConsumer(topic: string): Promise<void> {
    const names: string[] = [];
    for await (const c of jsm.consumers.list(natsStreamOf(topic))) names.push(c.name);
    assert.equal(names.length, 1, `consumers of the stream: ${names.join(', ')}`);
    assert.equal(await jsm.consumers.delete(natsStreamOf(topic), names[0]!), true);
  }

  /**
   * Once the read's pull number `pulls` is held, deletes its consumer, then lets the pull go on
   * (and, with `holdNext`, holds the next one).
   */
  async function deleteUnderRead(
    topic: string,
    link: ProxyLink,
    read: Promise<unknown>,
    pulls: number,
    holdNext: boolean,
  ): Promise<void> {
    const ended = read.then(
      () => 'returned',
      () => 'failed',
    );
    await Promise.race([
      env.proxy.until(() => (link.clientText.split(PULL).length - 1 >= pulls ? true : undefined)),
      ended.then((how) => assert.fail(`the read ${how} after ${pulls - 1} pull(s), its consumer deleted`)),
    ]);
    await deleteTheConsumer(topic);
    link.release();
    if (holdNext) link.holdClientFrom(PULL);
  }

  it('is made again from where it was: every message after since, in order, once', async () => {
    const topic = 'deleted-once';
    const { broker, link, epoch } = await published(topic, 30);
    link.holdClientFrom(PULL);
    const read = broker.history(topic, { offset: 10, epoch });
    await deleteUnderRead(topic, link, read, 1, false);
    const got = await read;
    assert.ok(got);
    assert.deepEqual(
      got.map((m) => [m.offset, m.data.toString()]),
      Array.from({ length: 20 }, (_, i) => [11 + i, `m${11 + i}`]),
    );
    assert.ok(got.every((m) => m.epoch === epoch));
  });

  it('deleted every time: made again three times, then ERR_WS_BROKER_UNAVAILABLE', async () => {
    const topic = 'deleted-always';
    const { broker, link, epoch } = await published(topic, 5);
    link.holdClientFrom(PULL);
    const read = broker.history(topic, { offset: 0, epoch });
    read.catch(() => {}); // (asserted below)
    for (let pulls = 1; pulls <= 4; pulls++) await deleteUnderRead(topic, link, read, pulls, pulls < 4);
    await assert.rejects(read, (err) => err instanceof WebSocketError && err.code === 'ERR_WS_BROKER_UNAVAILABLE');
    // The four pulls it made, and no fifth.
    assert.equal(link.clientText.split(PULL).length - 1, 4);
  });

  it('its stream deleted and made again under it: none of the new stream is given as the old one', async () => {
    // The consumer goes with its stream; a new consumer on the stream made again (same name) would
    // read the new stream's messages at the old one's offsets, under the old epoch.
    const topic = 'stream-renewed';
    const { broker, link, epoch } = await published(topic, 30);
    link.holdClientFrom(PULL);
    const read = broker.history(topic, { offset: 10, epoch });
    const ended = read.then(
      () => 'returned',
      () => 'failed',
    );
    await Promise.race([
      env.proxy.until(() => (link.clientText.includes(PULL) ? true : undefined)),
      ended.then((how) => assert.fail(`the read ${how} before its pull`)),
    ]);
    assert.equal(await jsm.streams.delete(natsStreamOf(topic)), true);
    // Another process publishes on: its broker makes the stream again.
    const other = new NatsBroker({ url: env.server.url });
    brokers.push(other);
    await other.open(new BrokerRecorder(), history);
    let renewed = '';
    for (let i = 1; i <= 30; i++) renewed = (await other.publish(topic, Buffer.from(`new${i}`), false)).epoch;
    assert.notEqual(renewed, epoch);
    link.release();
    // Another epoch now: history does not cover that `since` (before, new11 to new30 came as m11 to m30).
    assert.equal(await read, null);
  });
});

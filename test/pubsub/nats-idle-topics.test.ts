/**
 * NatsBroker (JetStream) remembers each topic's stream (its name, epoch, the highest offset seen), so
 * that a publication needs no request but its own. It remembered every topic it ever touched, for
 * its whole life: about 0.5 KB each, without bound for a process whose clients use many short-lived
 * topics (`node bench/tools/nats-topics-heap.mjs`). Now at most `maxIdleTopics` topics with no
 * subscriber here and nothing running on them are remembered, the least recently used forgotten
 * first, and learned again from the server at their next use.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, natsStreamOf } from '../support/brokers.js';
import { promisesHeldAfter } from '../support/promises-held.js';

describe('NatsBroker: topics with no subscriber here are remembered up to maxIdleTopics', { timeout: 60_000 }, () => {
  let server: BrokerProcess;
  let admin: NatsConnection;
  /** The stream API requests (`$JS.API.STREAM.…`) any client made, by kind (`CREATE`, `INFO`…). */
  let requests: string[] = [];
  /** The stream requests made since the last call (every one the server routed before it is counted). */
  const requestsNow = async (): Promise<string[]> => {
    await admin.flush();
    const seen = requests;
    requests = [];
    return seen;
  };
  const open = async (options: { maxIdleTopics?: number } = {}): Promise<NatsBroker> => {
    const broker = new NatsBroker({ url: server.url, ...options });
    await broker.open(new BrokerRecorder(), history);
    return broker;
  };
  before(async () => {
    server = await BrokerProcess.nats();
    admin = await connect({ servers: server.url });
    admin.subscribe('$JS.API.STREAM.>', {
      callback: (_err, m) => {
        requests.push(m.subject.split('.')[3]!);
      },
    });
  });
  after(async () => {
    await admin.close();
    await server.stop();
  });

  it('past the bound, the least recently used is forgotten and learned again: the same epoch, the next offset', async (t) => {
    const broker = await open({ maxIdleTopics: 3 });
    t.after(() => broker.close());
    const epochs: string[] = [];
    for (let i = 0; i < 5; i++) epochs.push((await broker.publish(`lru-${i}`, Buffer.from('a'), false)).epoch);
    await requestsNow();
    // lru-4, lru-3 and lru-2 are remembered: a publication is its own request only.
    assert.deepEqual(await broker.publish('lru-4', Buffer.from('b'), false), { offset: 2, epoch: epochs[4] });
    assert.deepEqual(await broker.publish('lru-2', Buffer.from('b'), false), { offset: 2, epoch: epochs[2] });
    assert.deepEqual(await requestsNow(), []);
    // lru-0 was forgotten: its stream is asked for again, and its offsets go on.
    assert.deepEqual(await broker.publish('lru-0', Buffer.from('b'), false), { offset: 2, epoch: epochs[0] });
    assert.deepEqual(await requestsNow(), ['CREATE']);
    // With lru-0 back, lru-3 (then the least recently used) was forgotten; lru-4 was not.
    assert.deepEqual(await broker.publish('lru-4', Buffer.from('c'), false), { offset: 3, epoch: epochs[4] });
    assert.deepEqual(await requestsNow(), []);
    assert.deepEqual(await broker.publish('lru-3', Buffer.from('b'), false), { offset: 2, epoch: epochs[3] });
    assert.deepEqual(await requestsNow(), ['CREATE']);
    // position and history learn it again alike.
    assert.deepEqual(await broker.position('lru-1'), { offset: 1, epoch: epochs[1] });
    assert.deepEqual(
      (await broker.history('lru-1', { offset: 0, epoch: epochs[1]! }))?.map((m) => m.data.toString()),
      ['a'],
    );
  });

  it('a forgotten topic whose stream an operator deleted and made again: the new epoch, from offset 1', async (t) => {
    const broker = await open({ maxIdleTopics: 0 });
    t.after(() => broker.close());
    const topic = 'forgotten-renewed';
    const { epoch } = await broker.publish(topic, Buffer.from('a'), false);
    await broker.publish(topic, Buffer.from('b'), false);
    const jsm = await jetstreamManager(admin);
    await jsm.streams.delete(natsStreamOf(topic));
    const other = await open();
    t.after(() => other.close());
    const made = await other.publish(topic, Buffer.from('x'), false); // (the stream made again, by another process)
    assert.notEqual(made.epoch, epoch);
    assert.deepEqual(await broker.publish(topic, Buffer.from('c'), false), { offset: 2, epoch: made.epoch });
  });

  it('a subscribed topic is not forgotten (bound 0); once unsubscribed it is, at once', async (t) => {
    const broker = await open({ maxIdleTopics: 0 });
    t.after(() => broker.close());
    await broker.subscribe('kept');
    await broker.publish('kept', Buffer.from('a'), false);
    for (let i = 0; i < 3; i++) await broker.publish(`passing-${i}`, Buffer.from('a'), false);
    await requestsNow();
    await broker.publish('kept', Buffer.from('b'), false);
    assert.deepEqual(await requestsNow(), []);
    await broker.unsubscribe('kept');
    await broker.publish('kept', Buffer.from('c'), false);
    assert.deepEqual(await requestsNow(), ['CREATE']);
  });

  it('publications to the same topic at once (bound 0): each its own offset, one stream request', async (t) => {
    const broker = await open({ maxIdleTopics: 0 });
    t.after(() => broker.close());
    await requestsNow();
    const at = await Promise.all([1, 2, 3].map((i) => broker.publish('together', Buffer.from(`m${i}`), false)));
    assert.deepEqual(
      at.map((p) => p.offset),
      [1, 2, 3],
    );
    assert.deepEqual(await requestsNow(), ['CREATE']);
  });

  it('200 topics touched once hold nothing past the bound (before: a stream promise each, for good)', async (t) => {
    const broker = await open({ maxIdleTopics: 5 });
    t.after(() => broker.close());
    await broker.publish('warm-up', Buffer.from('w'), false); // (the connection's own promises, made once)
    const held = await promisesHeldAfter(async () => {
      for (let i = 0; i < 200; i++) await broker.publish(`once-${i}`, Buffer.from('m'), false);
    });
    assert.ok(held < 20, `${held} of the promises made by 200 topics' publications still held after GC`);
  });

  it('maxIdleTopics must be a whole number, at least 0', () => {
    for (const maxIdleTopics of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3' as unknown as number]) {
      assert.throws(() => new NatsBroker({ maxIdleTopics }), { code: 'ERR_WS_INVALID_ARGUMENT' });
    }
  });
});

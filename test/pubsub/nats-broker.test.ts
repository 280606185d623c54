/** NatsBroker against a real nats-server started here: JetStream offsets, order, history, epoch, outages; core NATS. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NatsBroker, type NatsBrokerOptions } from '../../src/pubsub/nats-broker.js';
import { brokerSuite, caughtUpInNewEpoch, history, publishOnRestart } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder } from '../support/brokers.js';

brokerSuite<NatsBroker, NatsBrokerOptions>({
  name: 'NatsBroker',
  create: (config) => new NatsBroker(config),
  start: () => BrokerProcess.nats(),
  scheme: 'nats',
  serverName: 'NATS server',
  foreignUrl: 'redis://127.0.0.1:1',
  outage: {
    title: 'NATS killed: publish and subscribe reject at once; restarted: available, resubscribed, same epoch',
    async restarted({ topic, pub, sub, before }) {
      await Promise.all([pub.events.available(true), sub.events.available(true)]);
      // JetStream kept the stream on disk: same epoch, offsets go on, history still covers.
      const after = await pub.broker.publish(topic, Buffer.from('after'), false);
      assert.deepEqual(after, { offset: 2, epoch: before.epoch });
      assert.deepEqual(
        (await pub.broker.history(topic, { offset: 0, epoch: before.epoch }))?.map((m) => m.data.toString()),
        ['before', 'after'],
      );
      const got = await sub.events.received(topic, 2);
      assert.deepEqual(
        got.map((m) => [m.offset, m.epoch, m.data.toString()]),
        [
          [1, before.epoch, 'before'],
          [2, before.epoch, 'after'],
        ],
      );
    },
  },
  specific(suite) {
    it('NATS restarted without its streams (memory storage): a new epoch, caught up from its start', async () => {
      const { open, server } = suite;
      const topic = 'outage-memory';
      const memory = { storage: 'memory' as const };
      const [pub, sub] = [await open(history, memory), await open(history, memory)];
      await sub.broker.subscribe(topic);
      const before = await pub.broker.publish(topic, Buffer.from('before'), false);
      await sub.events.received(topic, 1);

      await server.kill();
      await Promise.all([pub.events.available(false), sub.events.available(false)]);
      await server.start();
      const early = await publishOnRestart({ open, topic, pub, sub }, memory);
      await caughtUpInNewEpoch({ topic, pub, sub, before }, early);
    });
  },
});

describe('NatsBroker on a server without JetStream', () => {
  let nats: BrokerProcess;
  const brokers: NatsBroker[] = [];
  before(async () => {
    nats = await BrokerProcess.nats({ jetstream: false });
  });
  after(async () => {
    for (const b of brokers) await b.close();
    await nats.stop();
  });

  async function open(options: NatsBrokerOptions = {}) {
    const broker = new NatsBroker({ url: nats.url, ...options });
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    return { broker, events };
  }

  it('requireJetStream fails open(), a refusal (the server answered: no JetStream), not reported as down', async () => {
    const broker = new NatsBroker({ url: nats.url, requireJetStream: true });
    const events = new BrokerRecorder();
    await assert.rejects(broker.open(events, history), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_WS_BROKER_REFUSED');
      assert.match(
        err.message,
        /^the pub\/sub broker refused: NatsBroker: no JetStream on nats:\/\/127\.0\.0\.1:\d+ \(requireJetStream\)$/,
      );
      assert.equal((err.cause as Error).name, 'JetStreamNotEnabled');
      return true;
    });
    assert.deepEqual(events.availability, []);
  });

  it('live pub/sub works on core NATS, offsets counted per process, history is null', async () => {
    const topic = 'core';
    const [pub, sub] = [await open(), await open()];
    assert.equal(pub.broker.jetstream, false);
    await sub.broker.subscribe(topic);
    for (let i = 1; i <= 5; i++) await pub.broker.publish(topic, Buffer.from([i, 0, 10]), i === 5);
    const got = await sub.events.received(topic, 5);
    assert.deepEqual(
      got.map((m) => [m.offset, [...m.data], m.binary]),
      [1, 2, 3, 4, 5].map((i) => [i, [i, 0, 10], i === 5]),
    );
    const at = await sub.broker.position(topic);
    assert.equal(at.offset, 5);
    assert.equal(at.epoch, got[0]!.epoch);
    assert.equal(await sub.broker.history(topic, { offset: 2, epoch: at.epoch }), null);
  });
});

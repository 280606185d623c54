/**
 * NatsBroker when a topic's stream is deleted and made again by an operator and this process does
 * not hear JetStream's announcement of it (its NATS user may not subscribe to `$JS.EVENT.>`): a
 * publication acknowledged at a sequence this process already knew the stream had reached (by its
 * own publications, or by reading the stream's state) went to a stream made again, and is reported
 * under the new stream's epoch, not under the old one at an offset the old one had already given out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, natsStreamOf } from '../support/brokers.js';

describe('NatsBroker: a stream made again unannounced (advisories denied to its user)', () => {
  let server: BrokerProcess;
  let admin: NatsConnection;
  const brokers: NatsBroker[] = [];
  before(async () => {
    server = await BrokerProcess.nats({
      config:
        'authorization { users = [ ' +
        '{ user: pub, password: pub, permissions: { subscribe: { deny: ["$JS.EVENT.>"] } } }, ' +
        '{ user: admin, password: admin } ] }',
    });
    admin = await connect({ servers: server.url, user: 'admin', pass: 'admin' });
  });
  after(async () => {
    for (const b of brokers) await b.close();
    await admin.close();
    await server.stop();
  });

  async function openPublisher(): Promise<NatsBroker> {
    const broker = new NatsBroker({ url: `nats://pub:pub@127.0.0.1:${server.port}` });
    brokers.push(broker);
    await broker.open(new BrokerRecorder(), history);
    return broker;
  }

  /** Deletes the topic's stream and makes it again as it was (a new epoch), then publishes `count` messages to it. */
  async function remade(topic: string, count: number): Promise<string> {
    const jsm = await jetstreamManager(admin);
    const info = await jsm.streams.info(natsStreamOf(topic));
    await jsm.streams.delete(natsStreamOf(topic));
    const made = await jsm.streams.add(info.config);
    const js = jetstream(admin);
    for (let i = 1; i <= count; i++) {
      const ack = await js.publish(info.config.subjects[0]!, Buffer.from(`x${i}`));
      assert.equal(ack.seq, i);
    }
    return made.created;
  }

  it('grown to exactly the offset of its last publication: the next one, acknowledged at that offset again, has the new epoch', async () => {
    const topic = 'unannounced-own';
    const pub = await openPublisher();
    const old = [];
    for (const text of ['a', 'b', 'c']) old.push(await pub.publish(topic, Buffer.from(text), false));
    assert.deepEqual(
      old.map((at) => at.offset),
      [1, 2, 3],
    );
    const epoch = await remade(topic, 2);
    assert.notEqual(epoch, old[0]!.epoch);

    // Offset 3 again: this process gave out 3 of the old stream, so this is another stream.
    assert.deepEqual(await pub.publish(topic, Buffer.from('d'), false), { offset: 3, epoch });
  });

  it("grown to exactly the offset this process last read of the stream's state: the next publication there has the new epoch", async () => {
    const topic = 'unannounced-read';
    const pub = await openPublisher();
    const first = await pub.publish(topic, Buffer.from('a'), false);
    assert.equal(first.offset, 1);
    // Published by others (here straight to the stream): this process knows of them by the position it reads.
    const js = jetstream(admin);
    const subject = (await (await jetstreamManager(admin)).streams.info(natsStreamOf(topic))).config.subjects[0]!;
    for (const text of ['b', 'c']) await js.publish(subject, Buffer.from(text));
    assert.deepEqual(await pub.position(topic), { offset: 3, epoch: first.epoch });
    const epoch = await remade(topic, 2);

    assert.deepEqual(await pub.publish(topic, Buffer.from('d'), false), { offset: 3, epoch });
  });
});

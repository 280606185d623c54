/**
 * NatsBroker when an operator deletes a topic's JetStream stream (and maybe makes it again) while
 * every process stays connected: the stream's next life is a new epoch, and each subscribed process
 * delivers it from offset 1, once, in order, as when the server lost its streams; publish and
 * position name the new epoch (also on a process that only publishes, once the new stream grew past
 * what it saw), and recovery (`history`) in it is exact.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { BrokerMessage } from '../../src/pubsub/broker.js';
import { type EpochEvent, PubSub } from '../../src/pubsub/index.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, natsStreamOf } from '../support/brokers.js';
import { JsonClient, startTestServer } from './pubsub-support.js';

const rows = (messages: BrokerMessage[]): [number, string, string][] =>
  messages.map((m) => [m.offset, m.epoch, m.data.toString()]);

describe('NatsBroker: a stream deleted or made again under connected processes is a new epoch', () => {
  let server: BrokerProcess;
  let admin: NatsConnection;
  const brokers: NatsBroker[] = [];
  before(async () => {
    server = await BrokerProcess.nats();
    admin = await connect({ servers: server.url });
  });
  after(async () => {
    for (const b of brokers) await b.close();
    await admin.close();
    await server.stop();
  });

  async function open(): Promise<{ broker: NatsBroker; events: BrokerRecorder }> {
    const broker = new NatsBroker({ url: server.url });
    brokers.push(broker);
    const events = new BrokerRecorder();
    await broker.open(events, history);
    return { broker, events };
  }

  it('deleted: the next publish makes it again; subscribers get its offsets 1, 2, 3 under the new epoch', async () => {
    const topic = 'deleted';
    const [sub, pub] = [await open(), await open()];
    await sub.broker.subscribe(topic);
    const old = [
      await pub.broker.publish(topic, Buffer.from('a'), false),
      await pub.broker.publish(topic, Buffer.from('b'), false),
    ];
    await sub.events.received(topic, 2);
    const jsm = await jetstreamManager(admin);
    await jsm.streams.delete(natsStreamOf(topic));

    const fresh = await pub.broker.publish(topic, Buffer.from('one'), false);
    assert.equal(fresh.offset, 1);
    assert.notEqual(fresh.epoch, old[0]!.epoch, 'a new epoch');
    const more = await Promise.all(['two', 'three'].map((text) => pub.broker.publish(topic, Buffer.from(text), false)));
    assert.deepEqual(
      more.map((at) => [at.offset, at.epoch]),
      [
        [2, fresh.epoch],
        [3, fresh.epoch],
      ],
    );
    await sub.events.until(() => sub.events.of(topic).some((m) => m.data.toString() === 'three'));
    assert.deepEqual(rows(sub.events.of(topic)), [
      [1, old[0]!.epoch, 'a'],
      [2, old[0]!.epoch, 'b'],
      [1, fresh.epoch, 'one'],
      [2, fresh.epoch, 'two'],
      [3, fresh.epoch, 'three'],
    ]);
    assert.deepEqual(await sub.broker.position(topic), { offset: 3, epoch: fresh.epoch });
    assert.deepEqual(
      (await sub.broker.history(topic, { offset: 1, epoch: fresh.epoch }))?.map((m) => m.data.toString()),
      ['two', 'three'],
    );
    assert.equal(await sub.broker.history(topic, { offset: 1, epoch: old[0]!.epoch }), null);
  });

  it('deleted and made again by the operator: the publisher learns the new epoch from its acknowledgement; subscribers deliver it from 1', async () => {
    const topic = 'remade';
    const [sub, pub] = [await open(), await open()];
    await sub.broker.subscribe(topic);
    const old = [
      await pub.broker.publish(topic, Buffer.from('a'), false),
      await pub.broker.publish(topic, Buffer.from('b'), false),
    ];
    await sub.events.received(topic, 2);
    const jsm = await jetstreamManager(admin);
    const info = await jsm.streams.info(natsStreamOf(topic));
    await jsm.streams.delete(natsStreamOf(topic));
    const remade = await jsm.streams.add(info.config);
    assert.notEqual(remade.created, old[0]!.epoch);

    const one = await pub.broker.publish(topic, Buffer.from('one'), false);
    assert.deepEqual(one, { offset: 1, epoch: remade.created });
    const two = await pub.broker.publish(topic, Buffer.from('two'), false);
    assert.deepEqual(two, { offset: 2, epoch: remade.created });
    await sub.events.until(() => sub.events.of(topic).some((m) => m.data.toString() === 'two'));
    assert.deepEqual(rows(sub.events.of(topic)), [
      [1, old[0]!.epoch, 'a'],
      [2, old[0]!.epoch, 'b'],
      [1, remade.created, 'one'],
      [2, remade.created, 'two'],
    ]);
  });

  it('made again by the operator and grown by another process past what a publishing-only process knew: that process reports the new epoch too', async () => {
    const topic = 'remade-grown';
    const [sub, pub, other] = [await open(), await open(), await open()];
    await sub.broker.subscribe(topic);
    const old = [
      await pub.broker.publish(topic, Buffer.from('a'), false),
      await pub.broker.publish(topic, Buffer.from('b'), false),
    ];
    await sub.events.received(topic, 2);
    const jsm = await jetstreamManager(admin);
    const info = await jsm.streams.info(natsStreamOf(topic));
    await jsm.streams.delete(natsStreamOf(topic));
    const remade = await jsm.streams.add(info.config);
    // Offsets 1, 2, 3 of the new stream: past the 2 the publisher saw of the old one.
    const grown = [];
    for (const text of ['x1', 'x2', 'x3']) grown.push(await other.broker.publish(topic, Buffer.from(text), false));
    assert.deepEqual(
      grown.map((at) => [at.offset, at.epoch]),
      [
        [1, remade.created],
        [2, remade.created],
        [3, remade.created],
      ],
    );

    const four = await pub.broker.publish(topic, Buffer.from('y'), false);
    assert.deepEqual(four, { offset: 4, epoch: remade.created });
    const five = await pub.broker.publish(topic, Buffer.from('z'), false);
    assert.deepEqual(five, { offset: 5, epoch: remade.created });
    await sub.events.until(() => sub.events.of(topic).some((m) => m.data.toString() === 'z'));
    assert.deepEqual(rows(sub.events.of(topic)), [
      [1, old[0]!.epoch, 'a'],
      [2, old[0]!.epoch, 'b'],
      [1, remade.created, 'x1'],
      [2, remade.created, 'x2'],
      [3, remade.created, 'x3'],
      [4, remade.created, 'y'],
      [5, remade.created, 'z'],
    ]);
  });

  it('deleted and nobody publishes: a subscription (its position) makes it again instead of failing', async () => {
    const topic = 'gone';
    const [first, pub] = [await open(), await open()];
    await first.broker.subscribe(topic);
    const old = await pub.broker.publish(topic, Buffer.from('a'), false);
    await first.events.received(topic, 1);
    const jsm = await jetstreamManager(admin);
    await jsm.streams.delete(natsStreamOf(topic));

    const late = await open();
    await late.broker.subscribe(topic);
    const at = await late.broker.position(topic);
    assert.equal(at.offset, 0);
    assert.notEqual(at.epoch, old.epoch);
    assert.deepEqual(await first.broker.position(topic), at);
    const one = await pub.broker.publish(topic, Buffer.from('one'), false);
    assert.deepEqual(one, { offset: 1, epoch: at.epoch });
    for (const { events } of [first, late]) {
      await events.until(() => events.of(topic).some((m) => m.data.toString() === 'one'));
    }
    assert.deepEqual(rows(first.events.of(topic)), [
      [1, old.epoch, 'a'],
      [1, at.epoch, 'one'],
    ]);
    assert.deepEqual(rows(late.events.of(topic)), [[1, at.epoch, 'one']]);
  });

  it("PubSub: a WebSocket subscriber gets the old epoch, then the new one from offset 1, each once, told by 'epoch'; recovery in the new epoch is exact", async (t) => {
    const topic = 'pubsub-remade';
    const web = await startTestServer();
    const format = (m: BrokerMessage) => JSON.stringify({ data: m.data.toString(), offset: m.offset, epoch: m.epoch });
    const receiving = new PubSub({ broker: new NatsBroker(server.url), format });
    const sending = new PubSub({ broker: new NatsBroker(server.url) });
    t.after(async () => {
      await Promise.all([receiving.close(), sending.close()]);
      await web.close();
    });
    const client = await JsonClient.connect(web.port);
    const { ws } = await web.next();
    const start = await receiving.subscribe(ws, topic);
    const epochs: EpochEvent[] = [];
    receiving.on('epoch', (e) => epochs.push(e));
    const a = await sending.publish(topic, 'a');
    assert.deepEqual(await client.next(), { data: 'a', offset: 1, epoch: start.epoch });
    assert.equal(a.epoch, start.epoch);

    const jsm = await jetstreamManager(admin);
    await jsm.streams.delete(natsStreamOf(topic));
    const one = await sending.publish(topic, 'one');
    const two = await sending.publish(topic, 'two');
    assert.notEqual(one.epoch, start.epoch);
    assert.deepEqual([one.offset, two.offset], [1, 2]);
    assert.deepEqual(
      [await client.next(), await client.next()],
      [
        { data: 'one', offset: 1, epoch: one.epoch },
        { data: 'two', offset: 2, epoch: one.epoch },
      ],
    );
    // The live subscriber was told of the new epoch, once, at its start.
    assert.deepEqual(epochs, [{ ws, topic, offset: 0, epoch: one.epoch }]);

    // Another client comes back with what it saw of the new epoch: exactly what follows.
    const three = await sending.publish(topic, 'three');
    assert.deepEqual(await client.next(), { data: 'three', offset: 3, epoch: one.epoch });
    const late = await JsonClient.connect(web.port);
    const { ws: lateWs } = await web.next();
    const recovered = await receiving.subscribe(lateWs, topic, { since: { offset: 1, epoch: one.epoch } });
    assert.deepEqual(recovered, { offset: 1, epoch: one.epoch, recovered: true });
    assert.deepEqual(
      [await late.next(), await late.next()],
      [
        { data: 'two', offset: 2, epoch: three.epoch },
        { data: 'three', offset: 3, epoch: three.epoch },
      ],
    );
    client.close();
    late.close();
  });
});

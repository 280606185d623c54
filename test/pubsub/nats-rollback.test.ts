/**
 * NATS killed and started again with its JetStream store as it was earlier (a backup restored, a
 * disk snapshot, a machine crash that lost what nats-server had not synced: by default it syncs
 * every two minutes): the topic's stream is the same one (its creation time, the epoch, unchanged)
 * with fewer messages, and its sequence gave offsets 6–8, already delivered, again to new messages:
 * subscribers took them for repeats (new 1–3 lost, new 4 came as 9), a client back with `since` 5
 * was told `recovered: true` and given new 1–3 as the 6–8 it missed, and a process that only
 * published reported offset 6 twice. Now a process that saw the stream higher under the same epoch
 * purges it past what it saw: the sequence goes on from 9. Real `serve --pubsub` processes, a real
 * nats-server restarted on an older copy of its store, the outside checker's raw-socket client.
 */
import assert from 'node:assert/strict';
import { after, before, it, type TestContext } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startServer } from '../conformance/raw-client.js';
import type { TopicPosition } from '../../src/pubsub/broker.js';
import { NatsBroker } from '../../src/pubsub/nats-broker.js';
import { history } from '../support/broker-suite.js';
import { BrokerProcess, BrokerRecorder, natsStreamOf } from '../support/brokers.js';
import { type Deployment, Peer, reportingWaits, type Server, untilServing } from './outside-support.js';

let broker: BrokerProcess;
let servers: Server[] = [];
const d: Deployment = { ports: [], opened: [] };
before(async () => {
  broker = await BrokerProcess.nats();
  servers = await Promise.all([0, 1].map(() => startServer(['--pubsub', '--broker', broker.url, '--history', '100'])));
  d.ports = servers.map((s) => s.port);
});
after(async () => {
  for (const p of d.opened) p.close();
  await Promise.all(servers.map((s) => s.stop()));
  await broker.stop();
});

it(
  'a NATS back with an older store: no offset is given twice under one epoch, no old since recovered',
  {
    timeout: 60_000,
  },
  (t) =>
    reportingWaits(t, d, async () => {
      const topic = 'rollback';
      const subscriber = await Peer.connect(d.ports[0]!, d.opened);
      const publisher = await Peer.connect(d.ports[1]!, d.opened);
      const { epoch } = await subscriber.subscribe(topic);
      await publisher.subscribe(topic);
      const publish = (data: string): void => publisher.send({ op: 'publish', topic, data });
      for (let i = 1; i <= 5; i++) publish(`old ${i}`);
      await subscriber.received(topic, 5);
      await broker.kill();
      broker.saveStore(); // offset 5
      await broker.start();
      await untilServing(d);
      for (let i = 6; i <= 8; i++) publish(`old ${i}`);
      await subscriber.received(topic, 8);
      await publisher.received(topic, 8);
      const before = subscriber.log.length;

      await broker.kill();
      broker.rollBack();
      await broker.start(); // offset 5, the same stream
      await untilServing(d);
      for (let i = 1; i <= 4; i++) publish(`new ${i}`);
      for (const peer of [subscriber, publisher]) {
        await peer.until('new 4', () => peer.messages(topic).some((m) => m.data === 'new 4'));
      }
      // The same epoch goes on past every offset given out: each new message once, at 9–12.
      const since = subscriber.log.slice(before).filter((r) => r.topic === topic);
      assert.deepEqual(
        since.map((r) => [r.op, r.offset, r.data]),
        [
          ['message', 9, 'new 1'],
          ['message', 10, 'new 2'],
          ['message', 11, 'new 3'],
          ['message', 12, 'new 4'],
        ],
      );
      assert.deepEqual(
        publisher.messages(topic).map((m) => [m.offset, m.data]),
        [
          ...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => [i, `old ${i}`]),
          [9, 'new 1'],
          [10, 'new 2'],
          [11, 'new 3'],
          [12, 'new 4'],
        ],
      );
      // A client that saw offset 5 missed 6–8, which the store lost: not recovered. One that saw 8
      // missed nothing of the old messages: given the new ones, at their offsets.
      const five = await Peer.connect(d.ports[1]!, d.opened);
      const fromFive = await five.subscribe(topic, { offset: 5, epoch });
      assert.deepEqual([fromFive.offset, fromFive.epoch, fromFive.recovered], [12, epoch, false]);
      const eight = await Peer.connect(d.ports[0]!, d.opened);
      const fromEight = await eight.subscribe(topic, { offset: 8, epoch });
      assert.deepEqual([fromEight.offset, fromEight.epoch, fromEight.recovered], [8, epoch, true]);
      assert.deepEqual(
        (await eight.received(topic, 4)).map((m) => [m.offset, m.data]),
        [
          [9, 'new 1'],
          [10, 'new 2'],
          [11, 'new 3'],
          [12, 'new 4'],
        ],
      );
      publish('live');
      for (const peer of [five, eight]) {
        const live = await peer.find('the live message', 0, (r) => r.op === 'message' && r.data === 'live');
        assert.equal(live.reply.offset, 13);
      }
      assert.equal(five.messages(topic).length, 1, 'nothing but the live message');
    }),
);

/**
 * A NatsBroker that only publishes `topic`, opened for the test, and a restart of the nats-server that waits until
 * this broker has seen it go and come back (`change` runs while the server is down: save or roll back its store).
 */
async function openPublisher(
  t: TestContext,
  topic: string,
): Promise<{
  publisher: NatsBroker;
  publish: (data: string) => Promise<TopicPosition>;
  restart: (change: () => void) => Promise<void>;
}> {
  const events = new BrokerRecorder();
  const publisher = new NatsBroker({ url: broker.url });
  t.after(() => publisher.close());
  await publisher.open(events, history);
  const publish = (data: string) => publisher.publish(topic, Buffer.from(data), false);
  const restart = async (change: () => void): Promise<void> => {
    const seen = events.availability.length;
    await broker.kill();
    change();
    await broker.start();
    await events.until(() => events.availability.slice(seen).join() === 'false,true');
  };
  return { publisher, publish, restart };
}

it('a NatsBroker that only publishes, back on an older store: its next publish is offset 9, not 6 again', async (t) => {
  const { publish, restart } = await openPublisher(t, 'rollback-publisher');
  for (let i = 1; i <= 5; i++) await publish(`old ${i}`);
  await restart(() => broker.saveStore());
  for (let i = 6; i <= 7; i++) await publish(`old ${i}`);
  const eighth = await publish('old 8');
  await restart(() => broker.rollBack());
  assert.deepEqual(await publish('new 1'), { offset: 9, epoch: eighth.epoch });
});

it('a stream that denies purging, back on an older store: one process warning naming it; publishing goes on', async (t) => {
  const topic = 'rollback-deny-purge';
  const { publisher, publish, restart } = await openPublisher(t, topic);
  for (let i = 1; i <= 2; i++) await publish(`old ${i}`);
  const admin = await connect({ servers: broker.url });
  try {
    await (await jetstreamManager(admin)).streams.update(natsStreamOf(topic), { deny_purge: true });
  } finally {
    await admin.close();
  }
  await restart(() => broker.saveStore());
  await publish('old 3');
  await restart(() => broker.rollBack());
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  await publish('new 1');
  await publisher.position(topic);
  await publisher.position(topic);
  await new Promise((resolve) => setImmediate(resolve)); // (warnings are emitted on the next tick)
  assert.deepEqual(
    warnings.map(
      (w) => w.message.includes(`stream ${natsStreamOf(topic)}`) && w.message.includes('back at offset 2 after 3'),
    ),
    [true],
  );
});

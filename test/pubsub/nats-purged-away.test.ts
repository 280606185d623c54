/**
 * A topic's JetStream stream emptied while a `serve --pubsub` process is cut off from NATS (purged
 * by an operator, or every message expired by `max_age` during a long partition): what was
 * published meanwhile is gone, and no republication of it is still to come. The process took the
 * hole for a late republication and held the topic's live messages `commandTimeoutMs` (here 60 s,
 * `--broker-timeout 60`; 5 s by default) behind it; now it gives the hole up as it catches up, as
 * when history holds only part of what it missed, and live messages go on at once.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess, natsStreamOf, TcpProxy } from '../support/brokers.js';
import { type Deployment, Peer, reportingWaits, type Server, untilServing } from './outside-support.js';

let broker: BrokerProcess;
let proxy: TcpProxy;
let servers: Server[] = [];
const d: Deployment = { ports: [], opened: [] };
before(async () => {
  broker = await BrokerProcess.nats();
  proxy = await TcpProxy.start(broker.port);
  const args = ['--pubsub', '--history', '100', '--broker-timeout', '60', '--broker'];
  servers = await Promise.all([proxy.url('nats'), broker.url].map((url) => startServer([...args, url])));
  d.ports = servers.map((s) => s.port);
});
after(async () => {
  for (const p of d.opened) p.close();
  await Promise.all(servers.map((s) => s.stop()));
  await proxy.close();
  await broker.stop();
});

it(
  'the stream purged while one process was cut off: back, it delivers the next message at once',
  {
    timeout: 30_000,
  },
  (t) =>
    reportingWaits(t, d, async () => {
      const topic = 'purged-away';
      const subscriber = await Peer.connect(d.ports[0]!, d.opened);
      const publisher = await Peer.connect(d.ports[1]!, d.opened);
      const { epoch } = await subscriber.subscribe(topic);
      await publisher.subscribe(topic);
      const publish = (data: string): void => publisher.send({ op: 'publish', topic, data });
      publish('before');
      await subscriber.received(topic, 1);

      proxy.cut();
      // Until the cut-off process says the broker is unavailable (each probe a round trip: no timer).
      const probe = await Peer.connect(d.ports[0]!, d.opened);
      for (let n = 0; ; n++) {
        probe.send({ op: 'subscribe', topic: `probe-${n}` });
        const { reply } = await probe.find('a probe reply', 0, (r) => r.topic === `probe-${n}` || r.op === 'error');
        if (reply.op === 'error') break;
      }
      for (let i = 1; i <= 3; i++) publish(`away ${i}`);
      await publisher.received(topic, 4);
      const admin = await connect({ servers: broker.url });
      try {
        await (await jetstreamManager(admin)).streams.purge(natsStreamOf(topic));
      } finally {
        await admin.close();
      }
      proxy.restore();
      await untilServing(d);

      publish('live');
      await subscriber.until('the live message', () => subscriber.messages(topic).some((m) => m.data === 'live'));
      assert.deepEqual(
        subscriber.messages(topic).map((m) => [m.offset, m.data]),
        [
          [1, 'before'],
          [5, 'live'],
        ],
      );
      // A client that saw 1 is told history no longer covers it.
      const back = await Peer.connect(d.ports[0]!, d.opened);
      const answer = await back.subscribe(topic, { offset: 1, epoch });
      assert.deepEqual([answer.offset, answer.epoch, answer.recovered], [5, epoch, false]);
    }),
);

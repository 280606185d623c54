/**
 * `serve --pubsub --history 0` keeps no history, yet a client back with the newest offset it saw
 * missed nothing: issue 13 reports `recovered: false` only when history cannot cover what came
 * after `since`, and an empty range needs none. Every broker answered `recovered: false` to every
 * `since` with `--history 0`, also at the newest offset (and to `{ offset: 0, epoch }` of a topic
 * never published to), while with `--history 1` the same `since` was recovered: a client that had
 * lost nothing was told it had. Found by an outside checker's run (pubsub28); real servers, real
 * Redis and NATS, the `ws`-free JSON client of outside-support.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { connectElsewhere, type Deployment, Peer, reportingWaits, type Server } from './outside-support.js';

const modes = [
  { name: 'in memory', broker: null, processes: 1, args: [] },
  { name: 'in memory, --workers 2', broker: null, processes: 1, args: ['--workers', '2'] },
  { name: 'two processes on one Redis', broker: 'redis', processes: 2, args: [] },
  { name: 'two processes on one NATS', broker: 'nats', processes: 2, args: [] },
] as const;

for (const mode of modes) {
  describe(`serve --pubsub --history 0, ${mode.name}`, () => {
    let broker: BrokerProcess | null = null;
    let servers: Server[] = [];
    const d: Deployment = { ports: [], opened: [], workers: mode.args.length > 0 ? 2 : undefined };
    before(async () => {
      const args = ['--pubsub', '--history', '0', ...mode.args];
      if (mode.broker !== null) {
        broker = await (mode.broker === 'redis' ? BrokerProcess.redis() : BrokerProcess.nats());
        args.push('--broker', broker.url);
      }
      servers = await Promise.all(Array.from({ length: mode.processes }, () => startServer(args)));
      d.ports = servers.map((s) => s.port);
    });
    after(async () => {
      for (const p of d.opened) p.close();
      await Promise.all(servers.map((s) => s.stop()));
      await broker?.stop();
    });

    it('a since at the newest offset is recovered (nothing missed), one behind it is not', { timeout: 60_000 }, (t) =>
      reportingWaits(t, d, async () => {
        const topic = 'history-zero';
        const publisher = await Peer.connect(d.ports[0]!, d.opened);
        const { epoch } = await publisher.subscribe(topic);
        for (let i = 1; i <= 3; i++) publisher.send({ op: 'publish', topic, data: i });
        await publisher.received(topic, 3);
        const elsewhere = { port: d.ports[0]!, worker: publisher.worker };

        const current = await connectElsewhere(d, elsewhere);
        assert.deepEqual(await current.subscribe(topic, { offset: 3, epoch }), {
          op: 'subscribed',
          topic,
          offset: 3,
          epoch,
          recovered: true,
        });
        const behind = await connectElsewhere(d, elsewhere);
        assert.deepEqual(await behind.subscribe(topic, { offset: 2, epoch }), {
          op: 'subscribed',
          topic,
          offset: 3,
          epoch,
          recovered: false,
        });

        // A topic never published to: its epoch and offset 0 are where it stands.
        const fresh = `${topic}-fresh`;
        const first = await publisher.subscribe(fresh);
        assert.equal(first.offset, 0);
        assert.deepEqual(await current.subscribe(fresh, { offset: 0, epoch: first.epoch }), {
          op: 'subscribed',
          topic: fresh,
          offset: 0,
          epoch: first.epoch,
          recovered: true,
        });

        // Then each gets the next message, and nothing before it.
        publisher.send({ op: 'publish', topic, data: 4 });
        publisher.send({ op: 'publish', topic: fresh, data: 1 });
        for (const [peer, name] of [
          [current, topic],
          [behind, topic],
          [current, fresh],
        ] as const) {
          const last = name === topic ? 4 : 1;
          await peer.until(`offset ${last} of ${name}`, () => peer.messages(name).some((m) => m.offset === last));
          assert.deepEqual(
            peer.messages(name).map((m) => [m.offset, m.data]),
            [[last, last]],
          );
        }
      }),
    );
  });
}

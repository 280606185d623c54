/**
 * The outside checks (test/pubsub/outside-support.ts) on `serve --pubsub --broker nats://…`:
 * three processes on one NATS, and one process with `--workers 2`. NATS runs JetStream with
 * file storage, so a restart keeps every topic: the same epoch goes on.
 */
import { after, before, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import {
  brokerRestart,
  type Deployment,
  handoffWhilePublishing,
  orderEverywhere,
  publishThroughRestart,
  type Server,
  sinceEdges,
  subscribeAndGo,
} from './outside-support.js';

const seed = Number(process.env.SEED ?? Date.now() % 1e9);
console.log(`outside-nats seed ${seed} (SEED=${seed} to repeat)`);

for (const [name, count, args] of [
  ['three processes', 3, []],
  ['one process with --workers 2', 1, ['--workers', '2']],
] as const) {
  describe(`outside checks: serve --pubsub on one NATS, ${name}`, () => {
    let nats: BrokerProcess;
    let servers: Server[] = [];
    const d: Deployment = { ports: [], opened: [], workers: count === 1 ? 2 : undefined };
    const restartable = {
      kill: () => nats.kill(),
      start: () => nats.start(),
      keeps: true,
    };
    before(async () => {
      nats = await BrokerProcess.nats();
      servers = await Promise.all(
        Array.from({ length: count }, () =>
          startServer(['--pubsub', '--broker', nats.url, '--history', '1000', ...args]),
        ),
      );
      // With one process, three entries of its port: each connection goes to whichever worker the kernel picks.
      d.ports = count === 1 ? [servers[0]!.port, servers[0]!.port, servers[0]!.port] : servers.map((s) => s.port);
    });
    after(async () => {
      for (const p of d.opened) p.close();
      await Promise.all(servers.map((s) => s.stop()));
      await nats.stop();
    });

    it('four concurrent publishers, six subscribers: every message once, in one order', () => orderEverywhere(d, seed));
    it('a subscriber dropped mid-stream recovers elsewhere while publishing goes on', () =>
      handoffWhilePublishing(d, seed));
    it('since at its edges, answered elsewhere as documented', () => sinceEdges(d));
    it('clients that subscribe and go at once leave every server up and serving', () => subscribeAndGo(d, servers));
    it('NATS restarted with its streams: refusals while down, the same epoch goes on, an old since recovered exactly', () =>
      brokerRestart(d, restartable));
    it('NATS killed and restarted while three publishers publish: each publish refused or delivered, in order', () =>
      publishThroughRestart(d, restartable, seed));
  });
}

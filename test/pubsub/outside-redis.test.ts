/**
 * The outside checks (test/pubsub/outside-support.ts) on `serve --pubsub --broker redis://…`:
 * three processes on one Redis, and one process with `--workers 2`. Redis runs without
 * persistence, so a restart loses every topic: a new epoch.
 */
import { after, before, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import {
  brokerRestart,
  type Deployment,
  handoffWhilePublishing,
  orderAcrossTopics,
  orderEverywhere,
  publishThroughRestart,
  type Server,
  sinceEdges,
  subscribeAndGo,
} from './outside-support.js';

const seed = Number(process.env.SEED ?? Date.now() % 1e9);
console.log(`outside-redis seed ${seed} (SEED=${seed} to repeat)`);

for (const [name, count, args] of [
  ['three processes', 3, []],
  ['one process with --workers 2', 1, ['--workers', '2']],
] as const) {
  describe(`outside checks: serve --pubsub on one Redis, ${name}`, () => {
    let redis: BrokerProcess;
    let servers: Server[] = [];
    const d: Deployment = { ports: [], opened: [], workers: count === 1 ? 2 : undefined };
    const restartable = {
      kill: () => redis.kill(),
      start: () => redis.start(),
      keeps: false,
    };
    before(async () => {
      redis = await BrokerProcess.redis();
      servers = await Promise.all(
        Array.from({ length: count }, () =>
          startServer(['--pubsub', '--broker', redis.url, '--history', '1000', ...args]),
        ),
      );
      // With one process, three entries of its port: each connection goes to whichever worker the kernel picks.
      d.ports = count === 1 ? [servers[0]!.port, servers[0]!.port, servers[0]!.port] : servers.map((s) => s.port);
    });
    after(async () => {
      for (const p of d.opened) p.close();
      await Promise.all(servers.map((s) => s.stop()));
      await redis.stop();
    });

    it('four concurrent publishers, six subscribers: every message once, in one order', () => orderEverywhere(d, seed));
    it("one publisher's messages to 50 topics arrive in the order published, here and elsewhere", () =>
      orderAcrossTopics(d));
    it('a subscriber dropped mid-stream recovers elsewhere while publishing goes on', () =>
      handoffWhilePublishing(d, seed));
    it('since at its edges, answered elsewhere as documented', () => sinceEdges(d));
    it('clients that subscribe and go at once leave every server up and serving', () => subscribeAndGo(d, servers));
    it('Redis restarted without its data: refusals while down, a new epoch announced, an old since not recovered', () =>
      brokerRestart(d, restartable));
    it('Redis killed and restarted while three publishers publish: each publish refused or delivered, in order', () =>
      publishThroughRestart(d, restartable, seed));
  });
}

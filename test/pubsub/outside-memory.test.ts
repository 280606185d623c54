/** The outside checks (test/pubsub/outside-support.ts) on `serve --pubsub` in memory and with `--workers 2`. */
import { after, before, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import {
  type Deployment,
  handoffWhilePublishing,
  orderAcrossTopics,
  orderEverywhere,
  type Server,
  sinceEdges,
  subscribeAndGo,
} from './outside-support.js';

const seed = Number(process.env.SEED ?? Date.now() % 1e9);
console.log(`outside-memory seed ${seed} (SEED=${seed} to repeat)`);

for (const [name, args] of [
  ['one process, in memory', []],
  ['--workers 2, through the primary', ['--workers', '2']],
] as const) {
  describe(`outside checks: serve --pubsub, ${name}`, () => {
    let server: Server;
    const d: Deployment = { ports: [], opened: [], workers: args.length > 0 ? 2 : undefined };
    before(async () => {
      server = await startServer(['--pubsub', '--history', '1000', ...args]);
      // Three entries of one port: each connection goes to whichever worker the kernel picks.
      d.ports = [server.port, server.port, server.port];
    });
    after(async () => {
      for (const p of d.opened) p.close();
      await server.stop();
    });

    it('four concurrent publishers, six subscribers: every message once, in one order', () => orderEverywhere(d, seed));
    it("one publisher's messages to 50 topics arrive in the order published, here and elsewhere", () =>
      orderAcrossTopics(d));
    it('a subscriber dropped mid-stream recovers elsewhere while publishing goes on', () =>
      handoffWhilePublishing(d, seed));
    it('since at its edges, answered on another process as documented', () => sinceEdges(d));
    it('clients that subscribe and go at once leave the server up and serving', () => subscribeAndGo(d, [server]));
  });
}

/**
 * ClusterBroker's primary when subscribed workers are killed (SIGKILL) while it is delivering to
 * them: a write to a killed worker's IPC channel fails (EPIPE) before the primary sees the channel
 * closed, and must not crash the primary. A real node:cluster primary (a script run by the test)
 * forks a worker that publishes without pause and, round after round, subscribers that it kills
 * as soon as each has received a message; then a new subscriber must still be served.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runClusterPrimary } from './pubsub-support.js';

const rounds = 8;
const perRound = 4;

const script = (brokerUrl: string): string => `
import cluster from 'node:cluster';
const { ClusterBroker } = await import(${JSON.stringify(brokerUrl)});
const history = { size: 10, ttlSeconds: 0 };
if (cluster.isPrimary) {
  ClusterBroker.servePrimary(history);
  cluster.fork({ ROLE: 'pub' });
  const subscribers = (count, done) => {
    const subs = Array.from({ length: count }, () => cluster.fork({ ROLE: 'sub' }));
    let got = 0;
    for (const s of subs) s.on('message', (m) => { if (m === 'got' && ++got === count) done(subs); });
  };
  let round = 0;
  const next = () => {
    if (round++ === ${rounds}) {
      subscribers(1, () => {
        console.log('served after the kills');
        for (const w of Object.values(cluster.workers)) w.process.kill('SIGKILL');
        process.exit(0);
      });
      return;
    }
    // Killed while messages keep coming to them.
    subscribers(${perRound}, (subs) => {
      for (const s of subs) s.process.kill('SIGKILL');
      next();
    });
  };
  next();
} else {
  // (A worker never outlives its primary, however the test ends.)
  process.on('disconnect', () => process.exit(0));
  const broker = new ClusterBroker();
  let told = false;
  await broker.open({
    onMessage() { if (!told) { told = true; process.send('got'); } },
    onAvailability() {},
  }, history);
  if (process.env.ROLE === 'sub') {
    await broker.subscribe('t');
  } else {
    const data = Buffer.alloc(64 * 1024);
    for (;;) await Promise.all(Array.from({ length: 16 }, () => broker.publish('t', data, true).catch(() => {})));
  }
}
`;

it('the primary survives subscribed workers killed while it delivers to them, and serves the next', {
  timeout: 240_000,
}, async (t) => {
  const out = await runClusterPrimary(t, script(new URL('../../src/pubsub/cluster-broker.js', import.meta.url).href));
  assert.match(out, /served after the kills/);
});

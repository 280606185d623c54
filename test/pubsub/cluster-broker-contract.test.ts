/**
 * ClusterBroker's answers to a worker, in a real node:cluster primary (a script run by the test) with real forked
 * workers: a subscriber that leaves a topic another worker still holds does not take the topic from it; a worker's
 * own publication reaches it before its publish resolves; `close()` rejects what waits and what comes after it
 * (ERR_WS_BROKER_UNAVAILABLE, at once: not left pending); a worker whose channel to the primary closes hears
 * `onAvailability(false)`; a subscriber whose channel is closed (the process still
 * alive) does not hold back a publisher; a history read from an epoch the primary never had is null (not empty).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runClusterPrimary } from './pubsub-support.js';

const script = (brokerUrl: string): string => `
import cluster from 'node:cluster';
const { ClusterBroker } = await import(${JSON.stringify(brokerUrl)});
const history = { size: 10, ttlSeconds: 0 };
const report = (what, value) => console.log(JSON.stringify([what, value]));
if (cluster.isPrimary) {
  ClusterBroker.servePrimary(history);
  const next = (w, step) => new Promise((resolve) => {
    const f = (m) => { if (m && m.step === step) { w.off('message', f); resolve(m); } };
    w.on('message', f);
  });
  const fork = (role) => cluster.fork({ ROLE: role });
  // Two subscribers of 't'; one leaves; the other publishes and is still given its message.
  const a = fork('sub');
  const b = fork('sub');
  await Promise.all([next(a, 'subscribed'), next(b, 'subscribed')]);
  a.send({ do: 'unsubscribe' });
  await next(a, 'unsubscribed');
  b.send({ do: 'publish', topic: 't' });
  report('given to the one left, before its publish resolved', (await next(b, 'published')).got);
  b.send({ do: 'history' });
  report('history from an unknown epoch', (await next(b, 'history')).list);
  // close() with a publish in flight, then a publish after it.
  const c = fork('close');
  report('close', await next(c, 'closed'));
  // The channel to the primary closes (the worker prints to stdout: it has no channel left).
  const lose = fork('lose');
  await new Promise((resolve) => lose.once('exit', resolve));
  // A subscriber of 'v' whose channel is closed, its process alive: a publisher of 'v' is answered.
  const deaf = fork('deaf');
  const gone = new Promise((resolve) => deaf.once('disconnect', resolve));
  await next(deaf, 'subscribed');
  await gone;
  b.send({ do: 'publish', topic: 'v' });
  report('published beside a closed channel', (await next(b, 'published')).offset);
  for (const w of Object.values(cluster.workers)) w.process.kill('SIGKILL');
  process.exit(0);
} else {
  // (A worker never outlives its primary, however the test ends; 'deaf' stays, killed by the primary; 'lose' ends by
  // itself, its channel closed.)
  if (process.env.ROLE !== 'deaf' && process.env.ROLE !== 'lose') process.on('disconnect', () => process.exit(0));
  const broker = new ClusterBroker();
  const got = [];
  const availability = [];
  await broker.open({
    onMessage(m) { got.push(m.topic + ':' + m.data.toString()); },
    onAvailability(available) { availability.push(available); },
  }, history);
  const outcome = (p) => p.then(() => 'resolved', (err) => err.code);
  const role = process.env.ROLE;
  if (role === 'sub') {
    process.on('message', async (m) => {
      if (m?.do === 'unsubscribe') {
        await broker.unsubscribe('t');
        process.send({ step: 'unsubscribed' });
      } else if (m?.do === 'publish') {
        const at = await broker.publish(m.topic, Buffer.from('from b'), false);
        process.send({ step: 'published', got: [...got], offset: at.offset });
      } else if (m?.do === 'history') {
        process.send({ step: 'history', list: await broker.history('t', { offset: 0, epoch: 'never-this-one' }) });
      }
    });
    await broker.subscribe('t');
    process.send({ step: 'subscribed' });
  } else if (role === 'close') {
    const inFlight = outcome(broker.publish('c', Buffer.from('x'), false));
    await broker.close();
    const after = outcome(broker.publish('c', Buffer.from('y'), false));
    // Both are settled by close() itself and at the call: one turn of the event loop is all they get.
    await new Promise((resolve) => setImmediate(resolve));
    const now = (p) => Promise.race([p, Promise.resolve('pending')]);
    process.send({ step: 'closed', inFlight: await now(inFlight), after: await now(after) });
  } else if (role === 'lose') {
    // (The broker's own listener was added first: it has run when this one runs.)
    process.once('disconnect', () => report('channel closed', availability));
    cluster.worker.disconnect();
  } else if (role === 'deaf') {
    await broker.subscribe('v');
    process.send({ step: 'subscribed' });
    process.disconnect();
    setInterval(() => {}, 1 << 30); // alive, its channel closed, until the primary kills it
  }
}
`;

it('ClusterBroker: leaving, own delivery, close, a lost channel, a closed subscriber channel, history from an unknown epoch', {
  timeout: 120_000,
}, async (t) => {
  const out = await runClusterPrimary(t, script(new URL('../../src/pubsub/cluster-broker.js', import.meta.url).href));
  const reports = Object.fromEntries(
    out
      .split('\n')
      .filter((line) => line.startsWith('['))
      .map((line) => JSON.parse(line) as [string, unknown]),
  );
  assert.deepEqual(reports, {
    'given to the one left, before its publish resolved': ['t:from b'],
    'history from an unknown epoch': null,
    close: { step: 'closed', inFlight: 'ERR_WS_BROKER_UNAVAILABLE', after: 'ERR_WS_BROKER_UNAVAILABLE' },
    'channel closed': [false],
    'published beside a closed channel': 1,
  });
});

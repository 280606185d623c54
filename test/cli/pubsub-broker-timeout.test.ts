/**
 * `ws-stream serve --pubsub --broker URL --broker-timeout S` reaches the broker of every process
 * that serves (one, and each of `--workers 2`): a publish Redis does not answer fails after S, its
 * error naming S in ms; and the server keeps serving the broker given that option (Redis and NATS).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { error, message, serveOnProxiedRedis, subscribe } from '../pubsub/blackbox-support.js';
import { JsonClient } from '../pubsub/pubsub-support.js';
import { BrokerProcess } from '../support/brokers.js';

/** Data no other command of the server holds: its link to Redis holds everything from it on. */
const HELD = 'held-from-here';

/** Clients of `port`, one accepted by each of `workers` workers (any one when the server runs none). */
async function oneOnEachWorker(port: number, workers: number, opened: JsonClient[]): Promise<JsonClient[]> {
  const byWorker = new Map<string | undefined, JsonClient>();
  for (let i = 0; i < 100 && byWorker.size < workers; i++) {
    const c = await JsonClient.connect(port);
    opened.push(c);
    if (byWorker.has(c.worker)) c.close();
    else byWorker.set(c.worker, c);
  }
  assert.equal(byWorker.size, workers, 'connections reached every worker');
  return [...byWorker.values()];
}

describe('serve --pubsub --broker-timeout', () => {
  const brokers: BrokerProcess[] = [];
  after(async () => {
    for (const b of brokers) await b.stop();
  });

  for (const workers of [1, 2]) {
    const mode = workers > 1 ? ['--workers', String(workers)] : [];
    it(`redis${workers > 1 ? ', --workers 2' : ''}: 0.5 s: a publish Redis does not answer fails "within 500 ms"`, async (t) => {
      const { server, proxy, clients } = await serveOnProxiedRedis(t, '0.5', mode);
      const each = await oneOnEachWorker(server.port, workers, clients);
      for (const c of each) {
        // (What every worker wrote to Redis before passes; its publish and all after it wait.)
        for (const link of proxy.links) link.holdClientFrom(HELD);
        c.send({ op: 'publish', topic: 't', data: HELD });
        const e = await error(c, 'ERR_WS_BROKER_UNAVAILABLE', `the publish on worker ${c.worker}`);
        assert.match(e.message, /\bno reply within 500 ms\b/, `worker ${c.worker}: ${e.message}`);
      }
    });
  }

  const cases: [string, () => Promise<BrokerProcess>][] = [
    ['redis', () => BrokerProcess.redis()],
    ['nats', () => BrokerProcess.nats()],
  ];
  for (const [kind, start] of cases) {
    it(`${kind}: with 2 s and with 3600 s, messages go through the broker`, async (t) => {
      const broker = await start();
      brokers.push(broker);
      for (const timeout of ['2', '3600']) {
        const server = await startServer(['--pubsub', '--broker', broker.url, '--broker-timeout', timeout]);
        const clients: JsonClient[] = [];
        t.after(async () => {
          for (const c of clients) c.sock.destroy();
          await server.stop();
        });
        const [sub, pub] = [await JsonClient.connect(server.port), await JsonClient.connect(server.port)];
        clients.push(sub, pub);
        const topic = `room-${timeout}`;
        await subscribe(sub, topic);
        pub.send({ op: 'publish', topic, data: timeout });
        assert.equal(await message(sub, topic, 1), timeout);
      }
    });
  }
});

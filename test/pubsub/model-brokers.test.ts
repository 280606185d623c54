/**
 * The model-based check (test/pubsub/model-support.ts) on `serve --pubsub --broker`: three
 * processes on one Redis, and two processes on one NATS with JetStream (where a `data` over
 * max_payload is refused with ERR_WS_MESSAGE_TOO_BIG). Fixed seeds; `PUBSUB_SEED=N` replays one,
 * `PUBSUB_STEPS=N` runs longer.
 */
import { after, before, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { assertCoverage, type ModelProgress, modelSeeds, modelSteps, runModel } from './model-support.js';
import type { Peer, Server } from './outside-support.js';

const HISTORY = 8;
/** Payload bytes of history per topic on Redis: some big messages trim it, or are not kept (NATS counts its own headers: not given). */
const HISTORY_BYTES = 150_000;
/** NATS's max_payload (1 MiB by default) less room for the broker's headers. */
const NATS_MAX_DATA = 1024 * 1024 - 200;

for (const [kind, processes] of [
  ['redis', 3],
  ['nats', 2],
] as const) {
  describe(`model-based check: ${processes} serve --pubsub processes on one ${kind}`, () => {
    let broker: BrokerProcess;
    let servers: Server[] = [];
    const opened: Peer[] = [];
    before(async () => {
      broker = await (kind === 'redis' ? BrokerProcess.redis() : BrokerProcess.nats());
      servers = await Promise.all(
        Array.from({ length: processes }, () =>
          startServer([
            '--pubsub',
            '--broker',
            broker.url,
            '--history',
            String(HISTORY),
            ...(kind === 'redis' ? ['--history-bytes', String(HISTORY_BYTES)] : []),
          ]),
        ),
      );
    });
    after(async () => {
      for (const p of opened) p.close();
      await Promise.all(servers.map((s) => s.stop()));
      await broker.stop();
    });
    for (const seed of modelSeeds([1, 3, 4])) {
      // A lost message or reply shows as a wait that never ends: the test's timeout, then what it waited for.
      const progress: ModelProgress = { where: '', waiting: new Set() };
      let finished = false;
      after(() => {
        if (!finished) console.log(`seed ${seed} stopped at ${progress.where}; waiting for ${[...progress.waiting]}`);
      });
      it(`seed ${seed} (PUBSUB_SEED=${seed} to replay): every reply and message as the model says`, {
        timeout: 120_000,
      }, async () => {
        const name = `${processes} processes on ${kind}`;
        const stats = await runModel(
          {
            name,
            ports: servers.map((s) => s.port),
            workers: 1,
            history: HISTORY,
            historyBytes: kind === 'redis' ? HISTORY_BYTES : undefined,
            orderAcrossTopics: kind === 'redis',
            brokerMaxData: kind === 'nats' ? NATS_MAX_DATA : undefined,
          },
          seed,
          modelSteps(),
          opened,
          progress,
        );
        finished = true;
        assertCoverage(stats, { orderAcrossTopics: kind === 'redis' });
        console.log(`${name}, seed ${seed}: ${JSON.stringify(stats)}`);
      });
    }
  });
}

/**
 * The model-based check (test/pubsub/model-support.ts) on `serve --pubsub --broker`: three
 * processes on one Redis, and two processes on one NATS with JetStream (where a `data` over
 * max_payload is refused with ERR_WS_MESSAGE_TOO_BIG). Fixed seeds; `PUBSUB_SEED=N` replays one,
 * `PUBSUB_STEPS=N` runs longer.
 */
import { after, before, describe, it } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { modelSeeds, modelSteps, runModel } from './model-support.js';
import type { Peer, Server } from './outside-support.js';

const HISTORY = 8;
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
          startServer(['--pubsub', '--broker', broker.url, '--history', String(HISTORY)]),
        ),
      );
    });
    after(async () => {
      for (const p of opened) p.close();
      await Promise.all(servers.map((s) => s.stop()));
      await broker.stop();
    });
    for (const seed of modelSeeds([1, 2])) {
      it(`seed ${seed} (PUBSUB_SEED=${seed} to replay): every reply and message as the model says`, async () => {
        const name = `${processes} processes on ${kind}`;
        const stats = await runModel(
          {
            name,
            ports: servers.map((s) => s.port),
            workers: 1,
            history: HISTORY,
            brokerMaxData: kind === 'nats' ? NATS_MAX_DATA : undefined,
          },
          seed,
          modelSteps(),
          opened,
        );
        console.log(`${name}, seed ${seed}: ${JSON.stringify(stats)}`);
      });
    }
  });
}

/**
 * The model-based check (test/pubsub/model-support.ts) on `serve --pubsub --broker`: three
 * processes on one Redis, and two processes on one NATS with JetStream (where a `data` over
 * max_payload is refused with ERR_WS_MESSAGE_TOO_BIG). Fixed seeds; `PUBSUB_SEED=N` replays one,
 * `PUBSUB_STEPS=N` runs longer.
 */
import { after, before, describe } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { BrokerProcess } from '../support/brokers.js';
import { modelSeedTests } from './model-support.js';
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
    modelSeedTests(
      [1, 3, 4],
      () => ({
        name: `${processes} processes on ${kind}`,
        ports: servers.map((s) => s.port),
        workers: 1,
        history: HISTORY,
        historyBytes: kind === 'redis' ? HISTORY_BYTES : undefined,
        orderAcrossTopics: kind === 'redis',
        brokerMaxData: kind === 'nats' ? NATS_MAX_DATA : undefined,
      }),
      opened,
    );
  });
}

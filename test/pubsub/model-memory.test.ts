/**
 * The model-based check (test/pubsub/model-support.ts) on `serve --pubsub` in memory (one
 * process, with --deflate: half the clients negotiate permessage-deflate) and with `--workers 2`
 * (topics through the primary). Fixed seeds; `PUBSUB_SEED=N` replays one, `PUBSUB_STEPS=N` runs longer.
 */
import { after, before, describe } from 'node:test';
import { startServer } from '../conformance/raw-client.js';
import { modelSeedTests } from './model-support.js';
import type { Peer, Server } from './outside-support.js';

const HISTORY = 8;
/** Payload bytes of history per topic: some big messages trim it, or are not kept. */
const HISTORY_BYTES = 150_000;

const deployments: [string, string[], number][] = [
  ['one process, in memory, --deflate', ['--deflate'], 1],
  ['--workers 2, through the primary', ['--workers', '2'], 2],
];
for (const [name, args, workers] of deployments) {
  describe(`model-based check: serve --pubsub, ${name}`, () => {
    let server: Server;
    const opened: Peer[] = [];
    before(async () => {
      server = await startServer([
        '--pubsub',
        '--history',
        String(HISTORY),
        '--history-bytes',
        String(HISTORY_BYTES),
        ...args,
      ]);
    });
    after(async () => {
      for (const p of opened) p.close();
      await server.stop();
    });
    modelSeedTests(
      [1, 3, 4],
      () => ({
        name,
        ports: [server.port],
        workers,
        history: HISTORY,
        historyBytes: HISTORY_BYTES,
        forgetsIdleTopics: true,
        orderAcrossTopics: true,
        deflate: args.includes('--deflate'),
      }),
      opened,
    );
  });
}

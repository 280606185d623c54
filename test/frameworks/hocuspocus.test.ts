/**
 * Hocuspocus 3, a Yjs collaboration server (apps/hocuspocus.ts, in a child process): its Server imports ws itself (as
 * installed, or ws-stream/ws under the alias) and its providers are given ws's or ws-stream/ws's WebSocket. Each
 * pairing of engines: two providers editing one document concurrently converge (and a 200 KB insert), awareness fields
 * reach the other provider, onAuthenticate refusing a token reaches the provider as 'permission-denied', the server
 * closing the connections (4001 and a reason) and then terminating them (1006): the providers reconnect by themselves
 * and catch up with edits made meanwhile.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const providerEngines = ['ws', 'ws-stream/ws'].filter(
  (e) => !process.env.FRAMEWORKS_ENGINE || e === process.env.FRAMEWORKS_ENGINE,
);

for (const engine of aliasEngines) {
  for (const providers of providerEngines) {
    describe(`Hocuspocus server on ${engine.name}, providers on ${providers}`, () => {
      it('converging edits, awareness, a refused token, reconnects after a close and a drop', async (t) => {
        const result = await runApp<Record<string, unknown>>(t, 'hocuspocus', engine, { PROVIDERS: providers });
        assert.deepEqual(result, {
          serverIsOurs: engine.name === 'ws-stream/ws',
          clientIsOurs: providers === 'ws-stream/ws',
          converged: true,
          text: true,
          long: true,
          awareness: true,
          refused: { reason: 'permission-denied', synced: false, text: 0 },
          closed: { code: 4001, reason: 'maintenance' },
          dropped: 1006,
          reconnected: true,
        });
      });
    });
  }
}

/**
 * Hocuspocus 3, a Yjs collaboration server (apps/hocuspocus.ts, in a child process): its Server imports ws itself (as
 * installed, or ws-stream/ws under the alias) and its providers are given the `ws` package's WebSocket. On both
 * engines: two providers editing one document concurrently converge (and a 200 KB insert), awareness fields reach the
 * other provider, onAuthenticate refusing a token reaches the provider as 'permission-denied', the server closing
 * the connections (4001 and a reason) and then terminating them (1006): the providers reconnect by themselves and catch
 * up with edits made meanwhile.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`Hocuspocus on ${engine.name}`, () => {
    it('converging edits, awareness, a refused token, reconnects after a close and a drop', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'hocuspocus', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        serverIsOurs: ours,
        clientIsOurs: ours,
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

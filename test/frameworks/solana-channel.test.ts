/**
 * Solana's RPC-subscriptions WebSocket channel (@solana/rpc-subscriptions-channel-websocket 8, importing `ws` on
 * Node 20), run with `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each
 * (apps/solana-channel.ts), against a server on the real ws. Both must show the same: text and binary (a Buffer) both
 * ways, 24 MiB sent in one turn past a 1 MiB `bufferedAmount` watermark arriving intact and in order, the server's
 * 4000 and a connection dropped without a close frame as errors carrying the CloseEvent (`code`, `wasClean`), its
 * 1000 as no error, an abort as 1000 on the server, and a refused upgrade rejecting with the engine's ErrorEvent.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`@solana/rpc-subscriptions-channel-websocket on ${engine.name}`, () => {
    it('sends and receives, holds sends above the watermark, reports closes, aborts, refusals', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'solana-channel', engine);
      assert.deepEqual(result, {
        aliased: engine.name === 'ws-stream/ws',
        globalWebSocket: 'undefined',
        echo: ['string echo: héllo', 'binary echo:\u0001\u0002\u0003'],
        bulk: 'string all received',
        bulkIntact: true,
        closed4000: 'error 8190003 WebSocket connection closed 4000 true',
        closed4000Server: 'close 4000',
        terminated: 'error 8190003 WebSocket connection closed 1006 false',
        terminatedServer: 'close 1006',
        after1000: { seen: [], send: 'rejected 8190003' },
        aborted: 'close 1000',
        refused: '8190004 WebSocket failed to connect (Unexpected server response: 401)',
      });
    });
  });
}

/**
 * @cosmjs/tendermint-rpc 0.39's `Comet38Client` over its `WebsocketClient` (ws through isomorphic-ws), run with `ws` as
 * installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/cosmjs.ts), against a
 * fake CometBFT node on the real ws. Both engines must show the same: decoded calls (abci_info, abci_query, a 256 kB
 * broadcast_tx_sync whose hash the node computed), an RPC error as the client throws it, NewBlockHeader events
 * decoded, a connection dropped by the node (1006: not clean, so the client reconnects on its own, reporting no error)
 * and a call answered after it, an unsubscribe when the listener goes, and `disconnect()` as 1000.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const query = "tm.event='NewBlockHeader'";

for (const engine of aliasEngines) {
  describe(`@cosmjs/tendermint-rpc on ${engine.name}`, () => {
    it('calls, subscribes to headers, reconnects after a drop, unsubscribes, disconnects', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'cosmjs', engine);
      assert.deepEqual(result, {
        aliased: engine.name === 'ws-stream/ws',
        abciInfo: ['kvstore', 3, '010203'],
        abciQuery: ['balance of cafe', 3, 0],
        broadcast: [0, '262144 bytes', true],
        rpcError: '{"code":-32603,"message":"Internal error","data":"height 999 must be less than or equal to 6"}',
        headers: [
          'testchain-1 4 2024-01-01T00:00:04.123Z 1212',
          'testchain-1 5 2024-01-01T00:00:05.123Z 1212',
          'testchain-1 6 2024-01-01T00:00:06.123Z 1212',
        ],
        dropped: '1006',
        afterReconnect: ['kvstore', 3],
        unsubscribed: query,
        disconnect: '1000',
        socketErrors: 0,
        node: [
          'text abci_info',
          'text abci_query',
          'text broadcast_tx_sync',
          'text block',
          `text subscribe ${query}`,
          'text abci_info',
          `text unsubscribe ${query}`,
        ],
      });
    });
  });
}

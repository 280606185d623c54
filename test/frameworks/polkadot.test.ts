/**
 * @polkadot/rpc-provider 16's WsProvider (over @polkadot/x-ws, which is `ws` in Node 20) against a small Substrate
 * JSON-RPC node on `ws`'s WebSocketServer, run with `ws` as installed and aliased to ws-stream/ws
 * (test/support/ws-alias.ts) in a child process each (apps/polkadot.ts): the engine under test on both sides. Both
 * must show the same: the provider's header at the node on each connection, results, a refused method's error,
 * 512 Ki characters, chain_newHead notifications (the first ones sent right behind the subscription's reply), a held request
 * failed with the node's close code and reason (1011 'going away'), 'disconnected' then 'connected' again with the
 * subscription renewed on the new connection, `unsubscribe`, and `disconnect()` closing with 1000.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`@polkadot/rpc-provider WsProvider on ${engine.name}`, () => {
    it('sends, subscribes, fails a held request on 1011, reconnects and re-subscribes, disconnects', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'polkadot', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        serverIsOurs: ours,
        isConnected: true,
        chain: 'Development',
        hash: `0x${'ab'.repeat(32)}`,
        refused: '-32601: Method not found',
        big: '524288:true',
        subscription: 'sub-1',
        hanging: 'disconnected from url: 1011:: going away',
        heads: ['0x11', '0x12', '0x13'],
        chainAgain: 'Development',
        unsubscribed: true,
        isConnectedAfter: false,
        nodeClosed: ['1: 1011 going away', '2: 1000 '],
        headers: ['polkadot-test', 'polkadot-test'],
        events: ['connected', 'disconnected', 'connected', 'disconnected'],
        nodeSaw: [
          '1: system_chain []',
          '1: chain_getBlockHash [0]',
          '1: state_nope []',
          '1: test_big []',
          '1: chain_subscribeNewHeads []',
          '1: test_hang []',
          '2: chain_subscribeNewHeads []',
          '2: system_chain []',
          '2: chain_unsubscribeNewHeads ["sub-2"]',
        ],
      });
    });
  });
}

/**
 * ethers 6's WebSocketProvider, whose transport is its own ws 8.21 (imported by ethers itself, used in the browser's
 * style), against a small JSON-RPC 2.0 node on `ws`'s WebSocketServer, run with `ws` as installed and aliased to
 * ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/ethers.ts): the engine under test on both
 * sides. Both must show the same: the network detected by eth_chainId, eth_blockNumber, eth_getBalance (30 in flight),
 * a reverted eth_call decoded to its reason, an unknown method's error, a 1 Mi-character result, three newHeads
 * notifications as 'block' events, eth_unsubscribe on `off`, and `destroy()` closing the socket (1005 at the node)
 * and refusing requests after it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`ethers WebSocketProvider on ${engine.name}`, () => {
    it('detects the network, calls, subscribes to newHeads, unsubscribes and is destroyed', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'ethers', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        providerIsOurs: ours,
        serverIsOurs: ours,
        ethersWs: ours,
        chainId: '1337',
        blockNumber: 16,
        balance: '1000000000000000000',
        balances: true,
        call: ['CALL_EXCEPTION', 'nope'],
        unknown: ['UNSUPPORTED_OPERATION', 'unsupported operation'],
        big: '1048576:true',
        blocks: [17, 18, 19],
        blockNumberAgain: '0x10',
        afterDestroy: 'UNSUPPORTED_OPERATION',
        nodeClosed: ['1005 '],
        nodeSaw: [
          'eth_chainId',
          'eth_blockNumber',
          'eth_getBalance',
          'eth_call',
          'eth_fail',
          'test_big',
          'eth_subscribe',
          'eth_unsubscribe',
          'eth_blockNumber',
        ],
      });
    });
  });
}

/**
 * web3.js 4's WebSocketProvider (web3-providers-ws, over isomorphic-ws) against a small Ethereum JSON-RPC node on
 * `ws`'s WebSocketServer, run with `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child
 * process each (apps/web3.ts): the engine under test on both sides. Both must show the same: the socket options' header
 * at the node on every connection, 'connect' with the chain id, a result, an error, a batch, a reply split across two
 * frames joined, two eth_subscription notifications as 'message' events, the reconnect after the node drops the
 * connection (1006: the CloseEvent not `wasClean`), no reconnect after the node's clean close 1000 ('disconnect'
 * 1000) but a new connection on the next request, and `disconnect(4000, 'client done')` seen by the node.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`web3 WebSocketProvider on ${engine.name}`, () => {
    it('connects with a header, requests, subscribes, reconnects after a drop, not after 1000, disconnects', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'web3', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        serverIsOurs: ours,
        socketIsOurs: ours,
        isomorphicWs: ours,
        status: 'connected',
        blockNumber: '0x10',
        unknown: { code: -32601, message: 'the method eth_fail does not exist/is not available' },
        batch: [
          { jsonrpc: '2.0', id: 103, result: '0x539' },
          { jsonrpc: '2.0', id: 104, result: '0x10' },
        ],
        chunked: '100000:true',
        subscription: '0xfeed',
        notifications: [{ number: '0x11' }, { number: '0x12' }],
        afterReconnect: '0x10',
        statusAfterClose: 'disconnected',
        afterClose: '0x10',
        nodeClosed: ['1: 1006 ', '2: 1000 bye', '3: 4000 client done'],
        headers: ['Bearer web3', 'Bearer web3', 'Bearer web3'],
        events: ['connect 0x539', 'connect 0x539', 'disconnect 1000', 'connect 0x539', 'disconnect 4000'],
        nodeSaw: [
          '1: eth_chainId',
          '1: eth_accounts',
          '1: eth_blockNumber',
          '1: eth_fail',
          '1: batch eth_chainId,eth_blockNumber',
          '1: test_chunked',
          '1: eth_subscribe',
          '2: eth_chainId',
          '2: eth_accounts',
          '2: eth_blockNumber',
          '3: eth_chainId',
          '3: eth_accounts',
          '3: eth_blockNumber',
        ],
      });
    });
  });
}

/**
 * viem 2's webSocket transport (isows, which imports `ws` on Node 20) against a small Ethereum JSON-RPC node on `ws`'s
 * WebSocketServer, run with `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child
 * process each (apps/viem.ts): the engine under test on both sides. Both must show the same: eth_chainId,
 * eth_blockNumber, 20 eth_getBalance in flight, an unknown method's MethodNotFoundRpcError, a 1 Mi-character result,
 * a reply in a binary frame after an empty text message, newHeads and a decoded Transfer log without polling, the
 * node dropping the connection (1006 at the node; SocketClosedError to the watchers, a reconnect re-subscribing both
 * and the new connection's head delivered), eth_unsubscribe of the new ids on unwatch, the rpc client's `close()`
 * (1005 at the node), and a refused connection as UnknownRpcError caused by the socket's error event.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`viem webSocket transport on ${engine.name}`, () => {
    it('calls, subscribes to newHeads and logs, reconnects and re-subscribes, unsubscribes, closes', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'viem', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        serverIsOurs: ours,
        isowsWs: ours,
        isowsCjsWs: ours,
        chainId: 1337,
        blockNumber: '16',
        socketIsOurs: ours,
        balances: Array.from({ length: 20 }, (_, i) => (i % 2 ? '1000000000000000000' : '0')),
        unknown: ['MethodNotFoundRpcError', -32601],
        big: '1048576:true',
        binary: 'from binary',
        blocks: ['17', '18', '19'],
        logs: [
          {
            from: '0x00000000000000000000000000000000000000AA',
            to: '0x00000000000000000000000000000000000000cc',
            value: '1000',
            eventName: 'Transfer',
          },
        ],
        // Each watcher hears of the drop twice: on the close event, and again as viem closes the dropped socket before
        // reconnecting (its close() wrapper calls the close handler itself).
        errors: [
          'blocks SocketClosedError',
          'logs SocketClosedError',
          'blocks SocketClosedError',
          'logs SocketClosedError',
        ],
        connections: 2,
        nodeClosed: ['1006 ', '1005 '],
        nodeSaw: [
          '1: eth_blockNumber',
          '1: eth_chainId',
          '1: eth_fail',
          '1: eth_getBalance',
          '1: eth_subscribe logs',
          '1: eth_subscribe newHeads',
          '1: test_big',
          '1: test_binary',
          '2: eth_subscribe logs',
          '2: eth_subscribe newHeads',
          '2: eth_unsubscribe 0x2a',
          '2: eth_unsubscribe 0x2b',
        ],
        refused: ['UnknownRpcError', 'connect ECONNREFUSED host:port', 'error', 'ECONNREFUSED'],
      });
    });
  });
}

/**
 * jayson 5 (JSON-RPC 2.0), whose websocket server and client come from isomorphic-ws 4 over jayson's own ws 7, run with
 * `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts; both ends then run on it) in a child
 * process each (apps/jayson.ts). Both must show the same: a result, an application error, method-not-found (-32601),
 * 100 kB echoed, a batch answered in order, a notification run without a reply, non-JSON text answered with a parse
 * error (-32700, null id), a client's timeout on a call never answered, and the closes (1000 with a reason, and 1005
 * for a `close()` without a code) seen by the server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`jayson on ${engine.name}`, () => {
    it('answers calls, batches and notifications, reports a parse error, times out, closes', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'jayson', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        serverIsOurs: ours,
        clientIsOurs: ours,
        calls: {
          added: { jsonrpc: '2.0', result: 3 },
          failed: { jsonrpc: '2.0', error: { code: 4000, message: 'nope', data: { why: 'asked to' } } },
          missing: -32601,
          echoed: ['héllo', 100_000],
          batch: [
            { jsonrpc: '2.0', id: 'b1', result: 7 },
            { jsonrpc: '2.0', id: 'b2', result: ['b'] },
          ],
        },
        notified: [['seen']],
        parseError: [null, -32700],
        timeout: 'timeout reached after 200 ms',
        closed: { client: '1000 done', server: '1000 done', patient: '1005 ' },
      });
    });
  });
}

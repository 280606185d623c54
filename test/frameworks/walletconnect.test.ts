/**
 * @walletconnect/jsonrpc-ws-connection 1.0, which requires its own ws 7 on Node, run with `ws` as installed and
 * aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/walletconnect.ts), against a
 * JSON-RPC server on the real ws over TLS with a self-signed certificate. Both engines must show the same: the
 * package's `rejectUnauthorized: false` for `wss://localhost` honoured and the certificate refused for
 * `wss://127.0.0.1` (with the TLS error's message), no subprotocol sent for its empty protocol list, a 403 upgrade's
 * error, payloads in order (a 1 MiB result, a notification, an error object), `close()` as 1005 on both ends, a
 * server's 4000 with its reason, and a send after it that reconnects on its own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`@walletconnect/jsonrpc-ws-connection on ${engine.name}`, () => {
    it('connects over wss with its TLS option, exchanges JSON-RPC, closes and reconnects on send', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'walletconnect', engine);
      assert.deepEqual(result, {
        aliased: engine.name === 'ws-stream/ws',
        untrusted: 'self-signed certificate',
        untrustedEvent: 'self-signed certificate',
        refused: 'Unexpected server response: 403',
        connected: true,
        payloads: [
          '{"id":1,"jsonrpc":"2.0","result":42}',
          '{"id":2,"jsonrpc":"2.0","result":"text:1048576"}',
          '{"id":3,"jsonrpc":"2.0","result":"sub1"}',
          '{"jsonrpc":"2.0","method":"notify","params":{"subscription":"sub1","data":"hi"}}',
          '{"id":4,"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"}}',
        ],
        closed: [false, '1005', '1005'],
        serverClose: ['4000 bye', false, '4000 bye'],
        afterReconnect: [true, '{"id":6,"jsonrpc":"2.0","result":42}'],
        lastClose: ['1005', '1005'],
        events: ['open', 'close', 'open', 'close', 'open', 'close'],
        server: [
          'connect protocol=null',
          'text sum',
          'text large',
          'text subscribe',
          'text nothing',
          'connect protocol=null',
          'text bye',
          'connect protocol=null',
          'text sum',
        ],
      });
    });
  });
}

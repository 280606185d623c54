/**
 * rpc-websockets 10, whose Server and Client both use ws (no engine can be injected), run with `ws` as installed and
 * aliased to ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/rpc.ts): both roles are the engine
 * under test, and a raw client of the real ws speaks JSON-RPC to the server as well. Both must show the same: calls
 * (1 MB of params, 50 concurrent), JSON-RPC errors, auth (login, a protected method), events, a namespace, parse
 * errors, the client's close (1000), termination (1006) and the client's own reconnect to a server restarted on the
 * same port.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`rpc-websockets on ${engine.name}`, () => {
    it('calls, errors, auth, events, namespaces, close and reconnect', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'rpc', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        serverIsOurs: ours,
        sum: 6,
        size: 1_000_000,
        many: Array.from({ length: 50 }, (_, i) => i * 2),
        notFound: { code: -32601, message: 'Method not found' },
        fails: { code: -32000, message: 'Error' },
        beforeLogin: { code: -32605, message: 'Method forbidden' },
        badLogin: { message: 'authentication failed' },
        login: true,
        secret: 'the secret',
        ticks: [{ n: 1 }, { n: 2 }, { n: 3 }],
        admin: { ns: 'admin' },
        adminNotHere: { code: -32601, message: 'Method not found' },
        raw: [
          {
            jsonrpc: '2.0',
            error: {
              code: -32700,
              message: 'Parse error',
              data: 'SyntaxError: Unexpected token \'o\', "not json" is not valid JSON',
            },
            id: null,
          },
          { jsonrpc: '2.0', result: 42, id: 7 },
        ],
        rpcClose: [1000],
        terminated: [1006, 1006],
        afterRestart: 10,
        againClose: 1000,
      });
    });
  });
}

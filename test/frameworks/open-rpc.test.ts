/**
 * The OpenRPC JSON-RPC client (@open-rpc/client-js 2, WebSocketTransport over isomorphic-ws, so `ws`), run with `ws`
 * as installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/open-rpc.ts),
 * against a JSON-RPC server on the real ws. Both must show the same, through the EventTarget API alone: results,
 * a JSON-RPC error's code and data, a response in a binary frame (its `data` a Buffer that JSON.parse reads), 1 MiB,
 * notifications both ways, a batch, stray responses (a result dropped, an error to `onError`), a frame that is not
 * JSON, and `close()` (1005 on the server).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';
import { describeEachEngine } from './side-by-side.js';

describeEachEngine(aliasEngines, '@open-rpc/client-js', (engine) => {
  it('calls a JSON-RPC server: results, errors, binary frames, notifications, a batch, strays, close', async (t) => {
    const result = await runApp<Record<string, unknown>>(t, 'open-rpc', engine);
    const ours = engine.name === 'ws-stream/ws';
    assert.deepEqual(result, {
      aliased: ours,
      socketIsOurs: ours,
      add: 42,
      unknown: { code: -32601, message: 'Method not found', data: { method: 'nope' } },
      binary: 'sent as a binary frame',
      echo: ['héllo', { n: 1 }, [true, null]],
      bigLength: 1_048_576,
      notification: 'tick [1,"one"]',
      batch: [4, ['in a batch']],
      stray: '-32000 late failure',
      garbled: '7979 Bad response format',
      closed: 'close 1005',
      serverSaw: [
        'request add',
        'request nope',
        'request binary',
        'request echo',
        'request big',
        'notification subscribe ["ticks"]',
        'batch of 2',
        'request add',
        'request echo',
        'notification stray []',
        'notification garble []',
      ],
    });
  });
});

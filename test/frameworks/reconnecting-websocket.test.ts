/**
 * reconnecting-websocket 4 with ws's WebSocket as its `WebSocket` option, run with `ws` as installed and aliased to
 * ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/reconnecting.ts), against a real ws server.
 * Both must show the same: the subprotocol, a message queued before the open, binaryType 'arraybuffer', reconnects
 * after the server terminates (1006) and closes (4000, with its reason), after the server is replaced, and after
 * `reconnect()`, each time sending what was queued while disconnected, then `close()` (1000) and no more reconnects.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`reconnecting-websocket on ${engine.name}`, () => {
    it('queues, reconnects after each kind of loss, and closes', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'reconnecting', engine);
      assert.deepEqual(result, {
        isOurs: engine.name === 'ws-stream/ws',
        readyState: 3,
        events: [
          ['open', 'chat'],
          ['close', 1006, ''],
          ['open', 'chat'],
          ['close', 4000, 'go away'],
          ['open', 'chat'],
          ['close', 1006, ''],
          ['open', 'chat'],
          ['close', 4001, 'again'],
          ['open', 'chat'],
          ['close', 1000, 'done'],
        ],
        received: [
          'before open',
          'ab 7,8,9',
          'queued after 1006',
          'queued after 4000',
          'queued after 1006',
          'queued after 4001',
          'after reconnect',
        ],
        serverSaw: [
          ['before open', 'bin 3'],
          ['queued after 1006'],
          ['queued after 4000'],
          ['queued after 1006'],
          ['queued after 4001', 'after reconnect'],
        ],
      });
    });
  });
}

/**
 * Socket.IO 4 on its default WebSocket engine, with `ws` aliased to ws-stream/ws (test/support/ws-alias.ts) for both
 * the server (engine.io) and the client (engine.io-client's own ws), as a user runs it without `wsEngine`, and on ws
 * as the control, in a child process each (apps/socketio.ts): an acknowledged echo with binary and 1 MB, a broadcast
 * to a room, and the server's close seen by each client. (socketio.test.ts injects the engine instead.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`Socket.IO's default engine on ${engine.name}`, () => {
    it('echo, broadcast and close', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'socketio', engine);
      assert.deepEqual(result, {
        serverIsOurs: engine.name === 'ws-stream/ws',
        clientIsOurs: engine.name === 'ws-stream/ws',
        echo: { text: 'héllo', bytes: [1, 2, 3], big: 1_000_000 },
        news: ['to all', 'to all'],
        disconnect: ['transport close', 'transport close'],
      });
    });
  });
}

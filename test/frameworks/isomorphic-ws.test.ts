/**
 * isomorphic-ws, which on Node is `module.exports = require('ws')`, run with `ws` as installed and aliased to
 * ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/isomorphic.ts). Both must show the same:
 * a client written in the browser's style (onopen, onmessage's MessageEvent, binaryType 'arraybuffer', onclose's
 * CloseEvent, the readyState constants on the class) against the real ws, and its `WebSocket.Server` serving a real
 * ws client.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`isomorphic-ws on ${engine.name}`, () => {
    it('a browser-style client and its server, against the real ws', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'isomorphic', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        isOurs: ours,
        browserStyle: [
          ['open', true, 'v2'],
          ['text', 'hi', 'message', true],
          ['binary', [1, 2, 3, 250]],
          ['close', 4100, 'see you', true, true],
        ],
        realServerSaw: ['protocol v2 origin -', 'text hi', 'bin 4', 'text bye'],
        serverIsOurs: ours,
        serverReplies: ['text:ABC', 'bin:XYZ'],
        clientClose: { code: 1000, reason: '' },
      });
    });
  });
}

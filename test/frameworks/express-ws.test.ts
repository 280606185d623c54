/**
 * express 5 + express-ws 5, which requires ws itself (its own ws 7: the control here), run with `ws` as installed and
 * aliased to ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/express.ts). Both must show the
 * same: a plain route beside WebSocket routes, verifyClient's 401 in the upgrade, permessage-deflate echo (text,
 * binary, 2 MiB, 50 in order), route params and a broadcast to one room through `getWss().clients`, a router (via
 * `applyTo`) whose middleware lets a token through and closes the socket without it, a server ping and close, an
 * unrouted path closed, and the server's 1001 to every client before `close()`, with nothing left tracked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const closed = (code: number, reason = '') => ({ code, reason });

for (const engine of aliasEngines) {
  describe(`express + express-ws on ${engine.name}`, () => {
    it('serves WebSocket routes, params, routers and middleware, and closes cleanly', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'express', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        serverIsOurs: ours,
        health: { ok: true },
        refused: 401,
        extension: 'permessage-deflate',
        echo: ['ready', 'héllo', 'bin:3:9', 'bin:2097152:3'],
        echoOrder: true,
        echoClose: closed(1000, 'bye'),
        rooms: [
          ['in x', 'x> hello x'],
          ['in x', 'x> hello x'],
          ['in y', 'y> hello y'],
        ],
        ping: 'hb',
        item: { messages: ['item 42'], close: closed(4000, 'done with item') },
        forbidden: closed(1005),
        unrouted: closed(1005),
        shutdown: [closed(1001, 'shutdown'), closed(1001, 'shutdown'), closed(1001, 'shutdown')],
        serverCloses: [
          'chat:1001:shutdown',
          'chat:1001:shutdown',
          'chat:1001:shutdown',
          'echo:1000:bye',
          'items:4000:done with item',
        ],
        clientsLeft: 0,
      });
    });
  });
}

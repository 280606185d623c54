/**
 * express 5 + tinyws 1 (a `noServer` WebSocketServer from `ws`, `handleUpgrade` inside `req.ws()`), run with `ws` as
 * installed and aliased to ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/tinyws.ts). Both
 * must show the same: plain HTTP beside it, an upgrade answered by a route with 401 and by express with 404, the
 * subprotocol and permessage-deflate negotiated, an echo, a server ping's callback, 1009 over maxPayload with ws's
 * error code, a broadcast through `wss.clients`, `terminate()` as 1006, and 1001 on shutdown.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const closed = (code: number, reason = '') => ({ code, reason });

for (const engine of aliasEngines) {
  describe(`express + tinyws on ${engine.name}`, () => {
    it('answers upgrades from express routes: refusals, echo, ping, maxPayload, broadcast, terminate', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'tinyws', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        serverIsOurs: ours,
        http: [{ via: 'express' }, 'Hello from HTTP!'],
        refused: '401 no token',
        outsidePaths: '404 Cannot GET /other',
        hello: { protocol: '', extensions: 'permessage-deflate', clients: 1 },
        clientSide: { protocol: '', extensions: 'permessage-deflate' },
        chosen: 'echo.v2',
        ping: 'beat',
        echo: ['héllo', 'bin:3:1', 'ping sent (null)'],
        tooBig: closed(1009),
        chat: [['joined'], ['joined', 'chat: hi']],
        terminated: closed(1006),
        shutdown: [closed(1001, 'going away'), closed(1001, 'going away')],
        serverCloses: ['/chat 1001 going away', '/chat 1001 going away', '/ws 1005 ', '/ws 1006 ', '/ws 1006 '],
        serverSaw: ['/ws error WS_ERR_UNSUPPORTED_MESSAGE_LENGTH Max payload size exceeded'],
        clientsLeft: 0,
      });
    });
  });
}

/**
 * @hapi/nes 14 (hapi's WebSocket plugin), whose server is `new Ws.Server({ server: hapi's listener, verifyClient })`
 * and whose node client is `new Ws(url, { origin, maxPayload: 0 })` used through its on* properties, run with `ws` as
 * installed and aliased to ws-stream/ws (test/support/ws-alias.ts; both ends then run on it) in a child process each
 * (apps/nes.ts). Both must show the same: hapi routes answered over the socket (200s and a 404), a custom message,
 * subscription publishes (1 MiB among them) and a broadcast, a server-side disconnect seen as a clean close without a
 * code (1005, wasClean) that the client reconnects from with its subscription renewed, a refused Origin failing the
 * connect, and the client's disconnect and server.stop() each seen on both sides.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`@hapi/nes on ${engine.name}`, () => {
    it('routes requests, publishes, reconnects after a server disconnect, refuses an origin, stops', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'nes', engine);
      const ours = engine.name === 'ws-stream/ws';
      const closed = (willReconnect: boolean, wasRequested: boolean) => ({
        code: 1005,
        explanation: 'No status received',
        reason: '',
        wasClean: true,
        willReconnect,
        wasRequested,
      });
      assert.deepEqual(result, {
        aliased: ours,
        serverIsOurs: ours,
        ids: true,
        requests: [[200, 'world'], [200, { a: [1, 'é'] }], [404, 'Not Found'], { echoed: { hi: 1 } }],
        published: [{ n: 1 }, 1024 * 1024, 'news'],
        reconnected: { dropped: closed(true, false), serverSawLeave: true, newSocket: true, item: { n: 2 } },
        foreign: ['Socket error', 'ws'],
        left: [closed(false, true), true],
        stopped: [closed(false, false), true],
      });
    });
  });
}

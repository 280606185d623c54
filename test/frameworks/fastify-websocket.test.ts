/**
 * fastify 5 + @fastify/websocket 11, which requires ws itself (no engine can be injected), run with `ws` as installed
 * and with `ws` aliased to ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/fastify.ts). Both
 * must show the same: plain routes beside WebSocket routes, a 404 for a WebSocket route without an upgrade, a 401 from
 * an auth hook that runs before the upgrade, echo (text, binary, 5 MiB, 100 in order), 1009 over maxPayload, route
 * params and a broadcast to one room, a server close with code and reason, a throwing handler (terminated: 1006),
 * createWebSocketStream piping 4 MiB with backpressure, fastify's `injectWS` (a client on a PassThrough pair through
 * `setSocket`), and `app.close()` closing every client (1005) with nothing left tracked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { aliasEngines, runApp, runPackageTests } from './child.js';

/** @fastify/websocket's own folder, whose test/ holds its own node:test suite (it requires 'ws' itself). */
const packageDir = path.dirname(createRequire(import.meta.url).resolve('@fastify/websocket/package.json'));
const ownTests = ['base.test.js', 'hooks.test.js', 'inject.test.js', 'router.test.js'].map((f) => `test/${f}`);

const closed = (code: number, reason = '') => ({ code, reason });

for (const engine of aliasEngines) {
  describe(`fastify + @fastify/websocket on ${engine.name}`, () => {
    it('serves routes, hooks, rooms, streams and injectWS, and closes cleanly', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'fastify', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        serverIsOurs: ours,
        health: { ok: true },
        plainGetOnWsRoute: 404,
        refused: { status: 401, body: '{"error":"bad token"}' },
        echo: ['héllo ✓', 'bin:3:1', 'bin:5242880:7'],
        echoOrder: true,
        overMaxPayload: closed(1009),
        rooms: [
          ['joined a (1)', 'a:hi all'],
          ['joined a (2)', 'a:hi all'],
          ['joined b (1)', 'b:only b'],
        ],
        bye: closed(4001, 'bye now'),
        throws: closed(1006),
        stream: { close: closed(1005), count: 64, sizes: ['65536'], inOrder: true },
        injected: ['injected'],
        injectedClose: closed(1000, 'done'),
        shutdown: [closed(1005), closed(1005), closed(1005)],
        serverCloses: [
          'bye:4001:bye now',
          'echo:1000:done',
          'echo:1006:',
          'room:1005:',
          'room:1005:',
          'room:1005:',
          'stream:1005:',
        ],
        clientsLeft: 0,
      });
    });

    it("passes @fastify/websocket's own test suite", async (t) => {
      const run = await runPackageTests(t, packageDir, ownTests, engine);
      assert.equal(run.fail, 0, run.failures || run.output.slice(-4000));
      assert.equal(run.code, 0, run.output.slice(-4000));
      assert.ok(run.tests > 50, `${run.tests} tests`);
      assert.equal(run.pass, run.tests);
    });
  });
}

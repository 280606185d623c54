/**
 * webpack-dev-server 5.2, whose HMR socket is `new ws.Server({ noServer: true, path: '/ws', clientTracking: false })`
 * fed by its own 'upgrade' listener (shouldHandle, handleUpgrade, then emitting 'connection' itself), run with `ws` as
 * installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each
 * (apps/webpack-dev-server.ts), on a real webpack 5 compiler. Clients of the real ws speak to it as its browser client
 * does. Both must show the same: the greeting (hot, liveReload, reconnect, overlay, then the build's hash and ok), an
 * unknown Origin told why and closed without a code (1005), every page told invalid, hash and ok (or errors) on each
 * edit of the source while the served bundle follows, stop() terminating every client (1006) and clearing the server,
 * then on its HTTPS server (`server: { type: 'https' }`) the refusal's message still sent before the close, and the
 * 1 s ping heartbeat terminating a client that does not answer pings while one that does stays.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';
import { describeEachEngine } from './side-by-side.js';

describeEachEngine(aliasEngines, 'webpack-dev-server', (engine) => {
  it('greets a page, rejects a foreign origin, pushes rebuilds, pings and terminates, stops', async (t) => {
    const result = await runApp<Record<string, unknown>>(t, 'webpack-dev-server', engine);
    const ours = engine.name === 'ws-stream/ws';
    const aborted = { code: 1006, reason: '' };
    assert.deepEqual(result, {
      aliased: ours,
      serverIsOurs: ours,
      greeting: ['hot', 'liveReload', 'reconnect 10', 'overlay true', 'hash of the build', 'ok'],
      foreign: [[{ type: 'error', data: 'Invalid Host/Origin header' }], { code: 1005, reason: '' }],
      rebuilds: [
        { newBuild: true, page: ['invalid', 'hash of the build', 'ok'], samePage2: true, bundleHas: ['two'] },
        // A syntax error: the parse error is pushed, the bundle holds neither version.
        { newBuild: true, page: ['invalid', 'hash of the build', 'errors 1 true'], samePage2: true, bundleHas: [] },
        { newBuild: true, page: ['invalid', 'hash of the build', 'ok'], samePage2: true, bundleHas: ['four'] },
      ],
      stopped: [aborted, aborted, null],
      // On its HTTPS server: the same refusal (the message before the close), the same greeting.
      foreignTls: [[{ type: 'error', data: 'Invalid Host/Origin header' }], { code: 1005, reason: '' }],
      greetingTls: ['hot', 'liveReload', 'reconnect 10', 'overlay true', 'hash of the build', 'ok'],
      heartbeat: { silent: aborted, silentPings: 1, clientsAfter: 1, aliveOpen: true },
      aliveStopped: aborted,
    });
  });
});

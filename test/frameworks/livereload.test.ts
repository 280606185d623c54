/**
 * livereload 0.10, whose server is `new ws.Server({ server })` on its own HTTP server, run with `ws` as installed and
 * aliased to ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/livereload.ts): two clients of the
 * real ws speak the LiveReload protocol. Both must show the same: the served livereload.js, the hello answer, a
 * `reload` to every client once chokidar (waited for on its 'ready') sees a watched file written (a .txt file sends
 * nothing), an `alert`, the clients' closes, and `close()` (which calls ws's private `_server.close()` too) letting
 * the HTTP server close.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';
import { describeEachEngine } from './side-by-side.js';

describeEachEngine(aliasEngines, 'livereload', (engine) => {
  it('answers hello, sends reload on a file change and an alert, closes cleanly', async (t) => {
    const result = await runApp<Record<string, unknown>>(t, 'livereload', engine);
    const ours = engine.name === 'ws-stream/ws';
    const reload = {
      command: 'reload',
      path: 'index.html',
      liveCSS: true,
      originalPath: '',
      overrideURL: '',
    };
    assert.deepEqual(result, {
      aliased: ours,
      serverIsOurs: ours,
      script: [200, 'application/javascript', true],
      hello: {
        command: 'hello',
        protocols: [
          'http://livereload.com/protocols/official-7',
          'http://livereload.com/protocols/official-8',
          'http://livereload.com/protocols/official-9',
          'http://livereload.com/protocols/2.x-origin-version-negotiation',
          'http://livereload.com/protocols/2.x-remote-control',
        ],
        serverName: 'node-livereload',
      },
      reload: [reload, reload],
      alert: [
        { command: 'alert', message: 'built' },
        { command: 'alert', message: 'built' },
      ],
      clientsClosed: [
        { code: 1000, reason: 'page left' },
        { code: 1001, reason: '' },
      ],
      clientsLeft: 0,
    });
  });
});

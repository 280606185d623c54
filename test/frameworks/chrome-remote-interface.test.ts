/**
 * chrome-remote-interface 0.34, whose transport is ws 7's WebSocket (it requires ws itself, with `perMessageDeflate:
 * false`, `maxPayload` and `followRedirects`, and registers each command's reply handler in `send`'s callback), run
 * with `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts), in a child process each
 * (apps/cdp.ts), against Debian's Chromium and its own DevTools WebSocket server: a real, independent peer. Both
 * must show the same: the targets listed, a page navigated to one served by the test, its load and console events,
 * evaluations (3 MiB of text back in one message, 2 MiB in), 50 commands in flight, a protocol error, a second tab's
 * client disconnected by Chromium when the tab closes, the browser target, `close()`, and Browser.close.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`chrome-remote-interface → Chromium on ${engine.name}`, () => {
    it('lists targets, navigates, evaluates, receives events and closes', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'cdp', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        version: true,
        pages: 1,
        connectedTo: true,
        frameId: 'string',
        console: [['log', 'héllo from the page', 42]],
        title: 'cdp first ✓',
        sum: 42,
        bigBack: '3145728:x€:true',
        bigIn: 2097152,
        many: true,
        exception: 'Uncaught',
        unknownMethod: ['Error', -32601],
        secondTitle: 'cdp second ✓',
        secondClosed: ['disconnect', 1006],
        afterDisconnect: 'WebSocket is not open: readyState 3 (CLOSED)',
        browserTargets: 1,
        closedState: 3,
        afterClose: 'WebSocket is not open: readyState 3 (CLOSED)',
        browserClosed: 'disconnect',
        usedOurs: ours,
      });
    });
  });
}

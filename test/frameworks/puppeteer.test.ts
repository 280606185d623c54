/**
 * puppeteer-core, whose CDP transport is ws's WebSocket client (it imports ws itself), driving Debian's Chromium
 * headless, run with `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts), in a child process
 * each (apps/puppeteer.ts): the client role against a real peer. Both must show the same: navigation, evaluation,
 * a 4 MB CDP message each way, a 200×100 PNG screenshot, a second client by `puppeteer.connect` and its disconnect,
 * and the browser's close. On ws-stream/ws the frames must have gone through its client.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

for (const engine of aliasEngines) {
  describe(`puppeteer-core → Chromium on ${engine.name}`, () => {
    it('navigates, evaluates, takes a screenshot, connects twice and closes', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'puppeteer', engine);
      assert.deepEqual(result, {
        status: 200,
        title: 'ws-stream ✓',
        heading: 'héllo',
        sum: 42,
        bigBack: '4194304:x€',
        screenshot: { png: 'PNG', width: 200, height: 100 },
        pixel: 'rgb(48, 96, 192)',
        secondPages: true,
        secondConnected: false,
        firstStillWorks: 'ws-stream ✓',
        connectedAfterClose: false,
        usedOurs: engine.name === 'ws-stream/ws',
      });
    });
  });
}

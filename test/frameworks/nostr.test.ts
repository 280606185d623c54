/**
 * nostr-tools 2's `Relay` given ws's class by `useWebSocketImplementation` (`ws` as installed and aliased to
 * ws-stream/ws by test/support/ws-alias.ts), in a child process each (apps/nostr.ts), against a NIP-01 relay on the
 * real ws. Both engines must show the same: publishes accepted and refused with the relay's reason, a subscription's
 * stored events (one of 512 kB), EOSE and a live event, a forged event reported invalid, a notice, the package's
 * heartbeat through `ws.ping()` and `once('pong')` (the relay sees the pings; when it stops answering them the client
 * closes, 1005, reconnects, and subscribes again from its last event), and `close()`.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';
import { describeEachEngine } from './side-by-side.js';

describeEachEngine(aliasEngines, 'nostr-tools', (engine) => {
  it('publishes, subscribes, pings with ws.ping, reconnects when pongs stop, closes', async (t) => {
    const result = await runApp<Record<string, unknown>>(t, 'nostr', engine);
    assert.deepEqual(result, {
      socketIsOurs: engine.name === 'ws-stream/ws',
      published: ['', ''],
      refused: 'blocked: no spam here',
      stored: ['1 1 hello nostr', '1 2 text:524301', 'eose'],
      live: '1 4 live',
      invalid: '1 5 forged',
      notice: 'rate limit soon',
      pinged: 'connection 1',
      noPong: '1 1005',
      resubscribed: 2,
      connected: true,
      afterReconnect: '1 6 after the reconnection',
      close: ['relay connection closed by us', '2 1005', false],
      relay: [
        '1 EVENT kind 1',
        '1 EVENT kind 1',
        '1 EVENT kind 1',
        '1 REQ sub:1 [{"kinds":[1]}]',
        '1 EVENT kind 1',
        '2 REQ sub:1 [{"kinds":[1],"since":1700000006}]',
        '2 EVENT kind 1',
      ],
    });
  });
});

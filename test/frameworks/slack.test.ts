/**
 * @slack/socket-mode 2.0 (the Socket Mode client of Slack's Bolt), whose SlackWebSocket is `new WebSocket(url,
 * { perMessageDeflate: false, agent })` from `ws`, listened to with addEventListener('open'/'error') and on('message'/
 * 'close'/'ping'/'pong'), run with `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child
 * process each (apps/slack.ts), against a local Socket Mode backend written with ws-stream/ws's WebSocketServer (the
 * same in both runs). Both must show the same: the refused first ticket reported as the error event's original
 * ("Unexpected server response: 401") and retried with a new URL, hello, an Events API envelope and a slash command
 * dispatched and acknowledged (with a response payload), the backend's ping answered and the client's own pings, a
 * refresh request (closed with 1000, reconnected), a dropped connection (reconnected), and disconnect() closing with
 * 1000 without reconnecting.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';
import { describeEachEngine } from './side-by-side.js';

describeEachEngine(aliasEngines, '@slack/socket-mode', (engine) => {
  it('reconnects after a refused ticket, acks envelopes, pings, refreshes, survives a drop, disconnects', async (t) => {
    const result = await runApp<Record<string, unknown>>(t, 'slack', engine);
    const ours = engine.name === 'ws-stream/ws';
    const open = 'POST /api/apps.connections.open Bearer xapp-1-test';
    const reconnected = ['reconnecting', 'authenticated', 'connecting', 'connected'];
    assert.deepEqual(result, {
      aliased: ours,
      start: {
        opens: [open, open],
        ticket: '2',
        states: [
          'authenticated',
          'connecting',
          'error slack_socket_mode_websocket_error Unexpected server response: 401',
          ...reconnected,
        ],
      },
      clientIsOurs: ours,
      envelopes: [
        ['app_mention', 'e1', { type: 'app_mention', text: '<@U1> héllo' }, false, { envelope_id: 'e1', payload: {} }],
        [
          'slash_commands',
          'e2',
          { command: '/deploy', text: 'now' },
          true,
          { envelope_id: 'e2', payload: { text: 'deploying' } },
        ],
      ],
      pings: ['backend', true],
      refresh: { closed: [1000, ''], ticket: '3', states: reconnected },
      dropped: { ticket: '4', states: reconnected },
      disconnected: { closed: [1000, ''], states: ['disconnecting', 'disconnected'], opens: 4 },
    });
  });
});

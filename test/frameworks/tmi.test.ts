/**
 * tmi.js 1.8 (Twitch chat; requires `ws` on Node 20, which has no global WebSocket), run with `ws` as installed and
 * aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/tmi.ts), against a fake Twitch
 * chat server on the real ws. Both must show the same: the 'irc' subprotocol, an http.Agent of the app's own used for
 * every connection (ws's `agent` option), login and join events, chat, action and whisper messages with their tags,
 * PING/PONG both ways, `disconnect()` (1005 on the server), a refused login, an upgrade answered 503 ('Unable to
 * connect.', from the 'error' and the 'close' handlers), and a connection the server closes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const message = (...fields: unknown[]) => JSON.stringify(fields);
const login = [
  'protocols irc chose irc',
  'text CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership',
  'text PASS ***',
  'text NICK ada',
];

for (const engine of aliasEngines) {
  describe(`tmi.js on ${engine.name}`, () => {
    it('logs in, joins, chats, whispers, pings, disconnects; refused logins and upgrades', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'tmi', engine);
      const ours = engine.name === 'ws-stream/ws';
      const port = (result.connect as [string, number])[1];
      assert.deepEqual(result, {
        aliased: ours,
        connect: ['127.0.0.1', port],
        socketIsOurs: ours,
        state: ['OPEN', 'ada'],
        chat: [
          message('#lobby', 'ada', 'chat', {}, 'héllo Kappa', true),
          message('#lobby', 'Bob', 'chat', { 25: ['10-14'] }, 'you said: héllo Kappa', false),
          message('#lobby', 'ada', 'action', {}, 'waves', true),
          message('#lobby', 'Bob', 'chat', { 25: ['10-14'] }, 'you said: \u0001ACTION waves\u0001', false),
          message('#lobby', 'ada', 'chat', {}, 'whisper', true),
          message('#lobby', 'Bob', 'chat', { 25: ['10-14'] }, 'you said: whisper', false),
          'whisper #bob 4005',
          message('#bob', 'Bob', 'whisper', null, 4005, false),
          message('#lobby', 'ada', 'chat', {}, 'ping me', true),
          'ping',
          'pong number',
        ],
        disconnect: ['127.0.0.1', port],
        disconnected: ['Connection closed.', 'CLOSED'],
        events: ['connecting', 'logon', 'connected', 'join #lobby ada true', 'roomstate #lobby 7'],
        wrongPassword: 'Login authentication failed',
        refused: 'Unable to connect.',
        serverClosed: ['', 'CLOSED'],
        refusedEvents: ['Unable to connect.', 'Unable to connect.'],
        agentConnections: 4,
        serverSaw: [
          [
            ...login,
            'text JOIN #lobby',
            'text PRIVMSG #lobby :héllo Kappa',
            'text PRIVMSG #lobby :\u0001ACTION waves\u0001',
            'text PRIVMSG #lobby :whisper',
            'text PRIVMSG #lobby :ping me',
            'text PONG',
            'text PING',
            'close 1005',
          ],
          [...login, 'close 1005'],
          [...login, 'close 1001'],
        ],
        logged: ['error Login authentication failed'],
      });
    });
  });
}

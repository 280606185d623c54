/**
 * xmpp.js (@xmpp/client 0.14, XMPP over WebSocket) on the global `WebSocket` set from `ws`, run with `ws` as installed
 * and aliased to ws-stream/ws (test/support/ws-alias.ts) in a child process each (apps/xmpp.ts), against an XMPP
 * server on the real ws. Both engines must show the same: the `xmpp` subprotocol, a SASL failure as the client's
 * SASLError, a session bound, messages echoed (1 MiB among them), iq requests both ways, a connection dropped by the
 * server (1006) then re-established by the client (authenticated and bound again), `stop()` closing with `<close/>` and
 * 1005, the client's status changes in order, no error, and every frame on the server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const session = (n: number) => [
  `${n} connect protocol=xmpp`,
  `${n} open`,
  `${n} auth PLAIN`,
  `${n} open`,
  `${n} iq set`,
];
const online = ['connecting', 'connect', 'opening', 'open', 'opening', 'open', 'online'];

for (const engine of aliasEngines) {
  describe(`@xmpp/client on ${engine.name}`, () => {
    it('authenticates, binds, exchanges stanzas, reconnects after a drop, stops', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'xmpp', engine);
      assert.deepEqual(result, {
        refused: 'SASLError not-authorized: not-authorized - Wrong password',
        refusedClose: '1 1005',
        online: 'ada@localhost/laptop',
        socketIsOurs: engine.name === 'ws-stream/ws',
        echo: 'echo: héllo 👋',
        largeEcho: 1048582,
        version: ['fake-server', '1.0'],
        pingAnswered: 'ping1 result',
        dropped: '2 1006',
        onlineAgain: 'ada@localhost/laptop',
        echoAgain: 'echo: back',
        stopped: '3 1005',
        statuses: [...online, 'disconnect', ...online, 'closing', 'close', 'disconnecting', 'disconnect', 'offline'],
        errors: [],
        server: [
          '1 connect protocol=xmpp',
          '1 open',
          '1 auth PLAIN',
          '1 close',
          ...session(2),
          '2 message chat',
          '2 message chat',
          '2 iq get',
          '2 iq result',
          ...session(3),
          '3 message chat',
          '3 close',
        ],
      });
    });
  });
}

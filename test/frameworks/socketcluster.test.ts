/**
 * socketcluster-server 20 and socketcluster-client 20 (each requiring `ws`), run with `ws` as installed and aliased to
 * ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/socketcluster.ts). Both must show the same:
 * the async verifyClient's 401 and 403 (status and message, as a plain ws client sees them; 'connectAbort' on
 * socketcluster's client), permessage-deflate and `binaryType` 'arraybuffer' on the client's socket, RPCs with
 * results, named errors and 256 KiB of binary, a transmit, a channel fed by the exchange and a client, a JWT from the
 * server, a kick with 4500, a client's 1000, and the server's `close()` terminating the last client.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const hungUp = { code: 1006, reason: 'Socket hung up' };

for (const engine of aliasEngines) {
  describe(`socketcluster-server + socketcluster-client on ${engine.name}`, () => {
    it('runs handshakes, RPCs, pub/sub, auth and disconnects on both sides', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'socketcluster', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        clientAliased: ours,
        serverIsOurs: ours,
        refusedToken: { abort: hungUp, error: 'SocketProtocolError: Socket hung up', state: 'closed' },
        refusedOrigin: { abort: hungUp, error: 'SocketProtocolError: Socket hung up', state: 'closed' },
        answers: ['401 bad token', '403 Failed to authorize socket handshake - Invalid origin: http://evil.example'],
        connect: { isAuthenticated: false, state: 'open' },
        transport: { extensions: 'permessage-deflate', binaryType: 'arraybuffer' },
        greet: 'hello ada',
        fail: 'BadCustomError: cannot divide',
        size: { base64: true, length: 262_144, first: 9 },
        note: { text: 'héllo', n: 1 },
        news: ['from the server', { from: 'alice' }],
        login: 'ok',
        authToken: 'ada',
        kicked: { code: 4500, reason: 'kicked' },
        serverClosed: hungUp,
        serverDisconnects: [
          '/socketcluster/?token=good 1000 bye',
          '/socketcluster/?token=good 1006 Socket hung up',
          '/socketcluster/?token=good 4500 kicked',
        ],
        serverSaw: [
          'warning bad token',
          'warning Failed to authorize socket handshake - Invalid origin: http://evil.example',
          'warning bad token',
          'warning Failed to authorize socket handshake - Invalid origin: http://evil.example',
          'connection /socketcluster/?token=good http://app.example',
          'connection /socketcluster/?token=good http://app.example',
          'warning Socket connection closed with status code 4500 and reason: kicked',
          'connection /socketcluster/?token=good http://app.example',
          'warning Socket hung up',
        ],
      });
    });
  });
}

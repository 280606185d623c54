/**
 * Ably's realtime client (ably 2, requiring `ws` on Node), run with `ws` as installed and aliased to ws-stream/ws
 * (test/support/ws-alias.ts) in a child process each (apps/ably.ts), against a fake Ably realtime endpoint speaking
 * the protocol's JSON format. Both must show the same: the connect query (key, clientId, `heartbeats=false` for ws
 * ping frames), `binaryType` 'nodebuffer', a channel attached and subscribed, text, JSON and binary messages
 * published, ACKed and delivered, a NACK and a channel ERROR as the client's errors, a ws ping answered, the socket
 * dropped by the server (1006) and the connection resumed on a new one, and `close()`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const query = (resume: string) => `key=app.key:secret clientId=ada format=json heartbeats=false resume=${resume}`;

for (const engine of aliasEngines) {
  describe(`ably realtime on ${engine.name}`, () => {
    it('connects, attaches, publishes and receives, is refused, resumes after a drop, closes', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'ably', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        socket: { isOurs: ours, binaryType: 'nodebuffer' },
        connectionId: 'conn-1',
        attached: 'attached',
        received: ['greeting "héllo" ada', 'json {"n":1,"list":[true,null]} ada', 'binary bytes 1,2,3 ada'],
        nack: '40160 401 publish denied',
        channelError: '40160 channel denied (failed)',
        wsPing: 'pong hb',
        afterResume: 'after "resume" ada',
        states: [
          'initialized->connecting',
          'connecting->connected',
          'connected->disconnected',
          'disconnected->connecting',
          'connecting->connected',
          'connected->closing',
          'closing->closed',
        ],
        connections: [
          [
            query('null'),
            'text action 10 chat',
            'text action 15 chat',
            'text action 15 chat',
            'text action 15 chat',
            'text action 15 read-only',
            'text action 10 locked',
            'close 1006',
          ],
          [query('conn-key-1'), 'text action 10 chat', 'text action 15 chat', 'text action 7', 'close 1005'],
        ],
      });
    });
  });
}

/**
 * hono 4 on @hono/node-server with @hono/node-ws, which imports ws's WebSocketServer itself (`noServer`), run with
 * `ws` as installed and aliased to ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/hono.ts),
 * with `ws`'s WebSocket and hono's typed client (`hc(...).$ws()`) as the clients. Both must show the same: a
 * middleware's 401 and hono's 404 in the upgrade, the subprotocol, text, binary (an ArrayBuffer in onMessage) and
 * 1 MiB echoed, 20 messages sent at once on open in order, onClose with the client's code and reason, 1005 and
 * 1006, a server-side close with its code and reason, a broadcast to several clients, and the server's 1001 to every
 * client before it stops, with nothing left tracked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';

const closed = (code: number, reason = '') => ({ code, reason });
const numbered = Array.from({ length: 20 }, (_, i) => `echo text n${i}`);

for (const engine of aliasEngines) {
  describe(`hono + @hono/node-ws on ${engine.name}`, () => {
    it('upgrades, refuses, echoes, broadcasts and closes with codes and reasons', async (t) => {
      const result = await runApp<Record<string, unknown>>(t, 'hono', engine);
      const ours = engine.name === 'ws-stream/ws';
      assert.deepEqual(result, {
        aliased: ours,
        serverIsOurs: ours,
        clientIsOurs: ours,
        health: { ok: true },
        refused: [401, 404],
        allowed: ['welcome'],
        echoProtocol: 'chat',
        echo: ['héllo', 'bin:3:1', 'bin:1048576:7'],
        echoOrder: true,
        echoClose: closed(4000, 'client bye'),
        serverClose: closed(4001, 'server bye'),
        noCode: closed(1005),
        room: [
          ['members 1', 'room: from 2'],
          ['members 2', 'room: from 0', 'room: from 2'],
          ['members 3', 'room: from 0'],
        ],
        typedClient: [
          ['open', 1],
          ['text', 'typed'],
          ['binary', [250, 251]],
          ['close', 4002, 'typed bye', true],
        ],
        shutdown: [
          closed(1001, 'shutdown'),
          closed(1001, 'shutdown'),
          closed(1001, 'shutdown'),
          closed(1001, 'shutdown'),
        ],
        serverSaw: [
          'echo open chat 1',
          'echo text héllo',
          'echo binary 3 true',
          'echo binary 1048576 true',
          ...numbered,
          'echo close 4000 client bye',
          'echo open - 1',
          'echo text close me',
          'echo close 4001 server bye',
          'echo open - 1',
          'echo close 1005 ',
          'echo open - 1',
          'echo close 1006 ',
          'echo open - 1',
          'echo text typed',
          'echo binary 2 true',
          'echo close 4002 typed bye',
          'room close 1001 shutdown',
          'room close 1001 shutdown',
          'room close 1001 shutdown',
          'private close 1001 shutdown',
        ],
        clientsLeft: 0,
      });
    });
  });
}

/**
 * Node's own global WebSocket (Node 20: behind --experimental-websocket; built on the undici bundled with Node, older
 * than the undici package undici.test.ts runs) against the same servers, each run as a child (peers/node-websocket.mjs):
 * subprotocol, text, 1 MiB binary, empty messages, close codes both ways, a server ping answered, 1006 on a drop.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { targets } from './echo-targets.js';
import { peerScript, runPeer } from './support.js';

describe("Node's own WebSocket (node --experimental-websocket: the undici bundled with Node 20) → servers", () => {
  // Whether an 'error' event comes before the 1006 of a dropped connection depends on the undici version (7 fires
  // one, 6.24 does not): taken from what the control saw.
  let controlTerminated: unknown;
  for (const target of targets) {
    it(target.name, async (t) => {
      const server = await target.start(false);
      t.after(() => server.stop());
      const out = await runPeer(process.execPath, [
        '--experimental-websocket',
        '--no-warnings',
        peerScript('node-websocket.mjs'),
        `${server.url}/`,
        target.commands ? '1' : '0',
      ]);
      const r = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
      console.log(`peer: Node ${r.node}'s WebSocket (undici ${r.undici})`);
      assert.deepEqual(r.echoes, r.expected);
      const { node, undici, echoes, expected, ...seen } = r;
      assert.deepEqual(seen, {
        protocol: 'chat',
        extensions: '',
        clientClose: { code: 4000, reason: 'bye ✓', wasClean: true, error: false },
        ...(target.commands && {
          pong: 'text:pong hi',
          serverClose: { code: 4001, reason: 'server ✓', wasClean: true, error: false },
          terminated: controlTerminated ?? seen.terminated,
        }),
      });
      if (target.commands) {
        const dropped = seen.terminated as { code: number; wasClean: boolean };
        assert.deepEqual([dropped.code, dropped.wasClean], [1006, false]);
      }
      if (target.name === 'ws (control)') controlTerminated = seen.terminated;
      else if (target.commands) assert.ok(controlTerminated !== undefined, 'the control ran first');
    });
  }
});

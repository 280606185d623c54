/**
 * Colyseus 0.18: @colyseus/core's Server with @colyseus/ws-transport (which imports ws's WebSocketServer) and
 * @colyseus/sdk clients (whose transport takes ws's WebSocket on Node 20), run with `ws` as installed and aliased to
 * ws-stream/ws (test/support/ws-alias.ts), in a child process each (apps/colyseus.ts): both ends are the engine under
 * test. Both must show the same: two clients matched into one room, a @colyseus/schema state patched to both after
 * their messages, a 60 000-character broadcast to all but the sender, a client's socket cut (1006 in the SDK's
 * onDrop and the room's), the SDK's own reconnection into the seat `allowReconnection` held, its state kept, then
 * consented leaves (4000 on both sides) and the room disposed.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { aliasEngines, runApp } from './child.js';
import { describeEachEngine } from './side-by-side.js';

describeEachEngine(aliasEngines, 'colyseus', (engine) => {
  it('joins, patches state, broadcasts, reconnects a dropped client and leaves', async (t) => {
    const result = await runApp<Record<string, unknown>>(t, 'colyseus', engine);
    const ours = engine.name === 'ws-stream/ws';
    assert.deepEqual(result, {
      aliased: [ours, ours],
      serverIsOurs: ours,
      clientIsOurs: ours,
      sameRoom: true,
      joined: [1, ['alice:0', 'bob:0']],
      scored: [
        [1, ['alice:7', 'bob:3']],
        [1, ['alice:7', 'bob:3']],
      ],
      shouted: ['alice', 60_000],
      bobDropped: 1006,
      afterReconnect: [1, ['alice:7', 'bob:13']],
      leave: [4000, 4000, 4000],
      roomSaw: [
        'join alice',
        'join bob',
        'drop bob 1006',
        'reconnect bob',
        'leave alice 4000',
        'leave bob 4000',
        'dispose',
      ],
      afterShutdown: [],
    });
  });
});

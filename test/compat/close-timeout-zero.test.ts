/**
 * ws's `closeTimeout: 0` arms `setTimeout(destroy, 0)`: the socket is torn down on the next turn of the
 * timers after ws sends its close frame, so a peer that answers later finds it gone and 'close' is 1006.
 * The core reads 0 as no limit; ws-stream/ws keeps ws's meaning. The peer answers with a timer armed
 * once it has the close frame: node runs timers in the order they expire, so the server's (armed
 * before, for 0 ms) always fires first, however loaded the machine.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { closeFrame } from '../support/frames.js';
import { closeCodeOf } from '../support/hostile.js';
import { impls, listen, rawPeer } from './support.js';

for (const impl of impls) {
  describe(`${impl.name}: closeTimeout 0`, () => {
    it("the server's close() tears the socket down before a late answer: 'close' 1006", async (t) => {
      const { wss, port } = await listen(t, impl, { closeTimeout: 0 });
      wss.on('connection', (ws: { close(code: number): void }) => ws.close(1000));
      const closed = once(wss, 'connection').then(([ws]) => once(ws, 'close'));
      const peer = await rawPeer(t, port);
      const [ours] = await peer.waitFrames(1);
      assert.equal(closeCodeOf(ours), 1000);
      await new Promise((r) => setTimeout(r, 50)); // the peer is slow to answer
      if (!peer.closed) peer.send(closeFrame(1000));
      const [code] = await closed;
      assert.equal(code, 1006);
    });
  });
}

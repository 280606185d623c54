/**
 * ws's `closeTimeout: 0` arms `setTimeout(destroy, 0)`: the socket is torn down on the next turn of the
 * timers after ws sends its close frame, so a peer that answers later finds it gone and 'close' is 1006.
 * The core reads 0 as no limit; ws-stream/ws keeps ws's meaning. `setTimeout` is node's mock: once the
 * peer has the close frame, the clock is moved on, which fires the server's close timer if it armed
 * one (both engines arm it as close() sends the frame), and only then does the peer answer.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { closeCodeOf } from '../support/hostile.js';
import { impls, listen, rawPeer } from './support.js';

for (const impl of impls) {
  describe(`${impl.name}: closeTimeout 0`, () => {
    it("the server's close() tears the socket down before a late answer: 'close' 1006", async (t) => {
      t.mock.timers.enable({ apis: ['setTimeout'] });
      const { wss, port } = await listen(t, impl, { closeTimeout: 0 });
      wss.on('connection', (ws: { close(code: number): void }) => ws.close(1000));
      const closed = once(wss, 'connection').then(([ws]) => once(ws, 'close'));
      const peer = await rawPeer(t, port);
      const [ours] = await peer.waitFrames(1);
      assert.equal(closeCodeOf(ours), 1000);
      t.mock.timers.tick(1); // the peer is slow to answer: the server's timer goes first
      await peer.waitClosed(); // torn down without waiting for the answer, which never goes
      const [code] = await closed;
      assert.equal(code, 1006);
    });
  });
}

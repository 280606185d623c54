/**
 * A peer's close reason that is not UTF-8, taken with `skipUTF8Validation`: the server's answer
 * echoes the reason's bytes as they came (decoded and re-encoded, 60 invalid bytes would become
 * 180, over a close frame's 123). Runs on the real `ws` and on ws-stream/ws alike.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closeFrame } from '../support/frames.js';
import { impls, listen, rawPeer } from './support.js';

const REASON = Buffer.alloc(60, 0xff);

for (const impl of impls) {
  describe(`${impl.name}: a close reason that is not UTF-8 with skipUTF8Validation`, () => {
    it('the server echoes code and reason bytes, and its close event has them', async (t) => {
      const { wss, port } = await listen(t, impl, { skipUTF8Validation: true });
      const closed = new Promise<[number, string]>((resolve) => {
        // biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
        wss.on('connection', (sws: any) =>
          sws.on('close', (code: number, reason: Buffer) => resolve([code, reason.toString('hex')])),
        );
      });
      const peer = await rawPeer(t, port);
      await peer.responseHead();
      peer.send(closeFrame(1000, REASON));
      const [answer] = await peer.waitFrames(1);
      assert.equal(answer!.opcode, 8);
      assert.equal(answer!.payload.toString('hex'), `03e8${REASON.toString('hex')}`);
      assert.deepEqual(await closed, [1000, REASON.toString('hex')]);
    });
  });
}

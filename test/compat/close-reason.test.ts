/**
 * A peer's close reason that is not UTF-8, taken with `skipUTF8Validation`: the server's answer
 * echoes the reason's bytes as they came (decoded and re-encoded, 60 invalid bytes would become
 * 180, over a close frame's 123). Runs on the real `ws` and on ws-stream/ws alike. And `close()` given a reason
 * that is not UTF-8: ws sends it, ws-stream/ws refuses it (doc/ws-compat.md, What differs).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
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

    it('close() with a reason that is not UTF-8', async (t) => {
      const { wss, port } = await listen(t, impl);
      const peer = await rawPeer(t, port);
      const [[server]] = await Promise.all([once(wss, 'connection'), peer.responseHead()]);
      const reason = Buffer.from([0xc3]);
      if (impl.name === 'ws') {
        server.close(4000, reason);
        const [frame] = await peer.waitFrames(1);
        assert.equal(frame!.payload.toString('hex'), '0fa0c3');
      } else {
        // RFC 6455 §5.5.1: the reason is UTF-8; nothing is sent and the connection stays open.
        assert.throws(() => server.close(4000, reason), { code: 'ERR_WS_INVALID_ARGUMENT' });
        assert.equal(server.readyState, 1);
        server.close(4000, 'ok');
        const [frame] = await peer.waitFrames(1);
        assert.equal(frame!.payload.toString('hex'), '0fa06f6b');
      }
    });
  });
}

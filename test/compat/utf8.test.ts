/**
 * `skipUTF8Validation`: ws delivers text that is not UTF-8 when it is set; ws-stream/ws always
 * validates (RFC 6455 §8.1, doc/ws-compat.md "What differs") and fails the connection with 1007.
 * Valid text is delivered the same with the option on both engines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closeFrame, text } from '../support/frames.js';
import { impls, listen, rawPeer } from './support.js';

const BAD = Buffer.from([0x68, 0xc3, 0x28]); // 'h', then a lead byte without its continuation

for (const impl of impls) {
  describe(`${impl.name}: skipUTF8Validation`, () => {
    it('valid text is delivered as with validation', async (t) => {
      const { wss, port } = await listen(t, impl, { skipUTF8Validation: true });
      const got = new Promise<[string, boolean]>((resolve) => {
        // biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
        wss.on('connection', (sws: any) => sws.on('message', (d: Buffer, b: boolean) => resolve([d.toString(), b])));
      });
      const peer = await rawPeer(t, port);
      await peer.responseHead();
      peer.send(text('héllo'));
      assert.deepEqual(await got, ['héllo', false]);
    });

    for (const [what, bytes, wsSees] of [
      ['a text message', text(BAD), 'message 68c328 false'],
      ['a close reason', closeFrame(1000, BAD), 'close 1000 68c328'],
    ] as const) {
      it(`${what} that is not UTF-8: ${impl.name === 'ws' ? 'accepted' : 'still refused with 1007'}`, async (t) => {
        const { wss, port } = await listen(t, impl, { skipUTF8Validation: true });
        const events: string[] = [];
        let seen: () => void;
        const first = new Promise<void>((resolve) => {
          seen = resolve;
        });
        const closed = new Promise<void>((resolve) => {
          // biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
          wss.on('connection', (sws: any) => {
            sws.on('message', (d: Buffer, b: boolean) => {
              events.push(`message ${d.toString('hex')} ${b}`);
              seen();
            });
            sws.on('error', (e: { code: string }) => events.push(`error ${e.code}`));
            sws.on('close', (code: number, reason: Buffer) => {
              events.push(`close ${code} ${reason.toString('hex')}`.trim());
              seen();
              resolve();
            });
          });
        });
        const peer = await rawPeer(t, port);
        await peer.responseHead();
        peer.send(bytes);
        if (impl.name === 'ws') {
          await first;
          assert.deepEqual(events, [wsSees]);
          return;
        }
        const frames = await peer.waitFrames(1);
        assert.equal(frames[0]!.payload.readUInt16BE(0), 1007);
        await closed;
        assert.deepEqual(events, ['error WS_ERR_INVALID_UTF8', 'close 1006']);
      });
    }
  });
}

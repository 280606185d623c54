/**
 * The connection drops while received messages are still being inflated (permessage-deflate): a
 * raw client sends compressed messages and destroys its socket at once. On the real `ws` and on
 * ws-stream/ws alike, every message is emitted, whole and in order, before 'close' (1006): through
 * the EventEmitter, with `allowSynchronousEvents: false`, through `onmessage`/`onclose`, and through
 * `createWebSocketStream` (all data before 'end').
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bulkyTexts, sendAndDrop } from '../support/drop-client.js';
import { impls, listen } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

const COUNT = 4;
const SIZE = 256 << 10;

for (const impl of impls) {
  describe(`${impl.name}: a drop while messages are inflating`, () => {
    for (const allowSynchronousEvents of [true, false]) {
      it(`every message before 'close' (allowSynchronousEvents: ${allowSynchronousEvents})`, async (t) => {
        const { wss, port } = await listen(t, impl, { perMessageDeflate: true, allowSynchronousEvents });
        const events = new Promise<string[]>((resolve) =>
          wss.on('connection', (s: Any) => {
            const seen: string[] = [];
            s.on('message', (d: Buffer, binary: boolean) => seen.push(`${binary ? 'binary' : 'text'} ${d}`));
            s.on('close', (code: number) => {
              seen.push(`close ${code}`);
              resolve(seen);
            });
          }),
        );
        const sent = bulkyTexts(COUNT, SIZE);
        await sendAndDrop(port, sent);
        assert.deepEqual(await events, [...sent.map((m) => `text ${m}`), 'close 1006']);
      });
    }

    it('onmessage/onclose: every MessageEvent before the CloseEvent', async (t) => {
      const { wss, port } = await listen(t, impl, { perMessageDeflate: true });
      const events = new Promise<string[]>((resolve) =>
        wss.on('connection', (s: Any) => {
          const seen: string[] = [];
          s.onmessage = (e: Any) => seen.push(String(e.data).slice(0, 8));
          s.onclose = (e: Any) => {
            seen.push(`close ${e.code} ${e.wasClean}`);
            resolve(seen);
          };
        }),
      );
      const sent = bulkyTexts(COUNT, SIZE);
      await sendAndDrop(port, sent);
      assert.deepEqual(await events, [...sent.map((m) => m.slice(0, 8)), 'close 1006 false']);
    });

    it('createWebSocketStream: all the data, then end', async (t) => {
      const { wss, port } = await listen(t, impl, { perMessageDeflate: true });
      const read = new Promise<string>((resolve) =>
        wss.on('connection', (s: Any) => {
          const duplex = impl.createWebSocketStream(s, { encoding: 'utf8' });
          let text = '';
          duplex.on('data', (chunk: string) => {
            text += chunk;
          });
          duplex.on('error', () => {});
          duplex.on('end', () => resolve(text));
        }),
      );
      const sent = bulkyTexts(COUNT, SIZE);
      await sendAndDrop(port, sent);
      assert.equal(await read, sent.join(''));
    });
  });
}

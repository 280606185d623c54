/**
 * The connection drops while received messages are still being inflated (permessage-deflate): a
 * raw client sends compressed messages and destroys its socket at once. On the real `ws` and on
 * ws-stream/ws alike, every message is emitted, whole and in order, before 'close' (1006): through
 * the EventEmitter, with `allowSynchronousEvents: false`, through `onmessage`/`onclose`, and through
 * `createWebSocketStream` (all data before 'end').
 *
 * That the drop came while messages were still to be emitted is observed, not assumed: the count
 * emitted when the server's socket saw the FIN ('end') is under COUNT on both engines, though for
 * different reasons. ws-stream/ws reads the socket on while it inflates, so the FIN comes while the
 * first messages still inflate (none was out yet, in every run we watched). `ws` pauses its socket while its Receiver is behind, but a
 * paused socket still reads on into its own buffer and reports the FIN once that buffer was handed
 * on; so on `ws` the drop comes after every byte went into the Receiver, while the last message (or
 * two) still inflates: what these tests show there is the order of those last messages and 'close',
 * not messages arriving after the drop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bulkyTexts, sendAndDrop } from '../support/drop-client.js';
import { impls, listen } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

const COUNT = 4;
const SIZE = 256 << 10;

/** Records, when the server's socket under `ws` sees the peer's FIN, what `emitted()` then says. */
function atDrop(ws: Any, emitted: () => number): { count: number } {
  const seen = { count: -1 };
  ws._socket.once('end', () => {
    seen.count = emitted();
  });
  return seen;
}

/** The drop reached the server before the last message was emitted (see the top of the file). */
function assertDropBeforeLast(drop: { count: number }): void {
  assert.ok(drop.count >= 0 && drop.count < COUNT, `the drop came after ${drop.count} of ${COUNT} were emitted`);
}

for (const impl of impls) {
  describe(`${impl.name}: a drop while messages are inflating`, () => {
    for (const allowSynchronousEvents of [true, false]) {
      it(`every message before 'close' (allowSynchronousEvents: ${allowSynchronousEvents})`, async (t) => {
        const { wss, port } = await listen(t, impl, { perMessageDeflate: true, allowSynchronousEvents });
        let drop = { count: -1 };
        const events = new Promise<string[]>((resolve) =>
          wss.on('connection', (s: Any) => {
            const seen: string[] = [];
            drop = atDrop(s, () => seen.length);
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
        assertDropBeforeLast(drop);
      });
    }

    it('onmessage/onclose: every MessageEvent before the CloseEvent', async (t) => {
      const { wss, port } = await listen(t, impl, { perMessageDeflate: true });
      let drop = { count: -1 };
      const events = new Promise<string[]>((resolve) =>
        wss.on('connection', (s: Any) => {
          const seen: string[] = [];
          drop = atDrop(s, () => seen.length);
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
      assertDropBeforeLast(drop);
    });

    it('createWebSocketStream: all the data, then end', async (t) => {
      const { wss, port } = await listen(t, impl, { perMessageDeflate: true });
      let drop = { count: -1 };
      const read = new Promise<string>((resolve) =>
        wss.on('connection', (s: Any) => {
          const duplex = impl.createWebSocketStream(s, { encoding: 'utf8' });
          let text = '';
          drop = atDrop(s, () => Math.floor(text.length / SIZE)); // whole messages: each is SIZE characters
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
      assertDropBeforeLast(drop);
    });
  });
}

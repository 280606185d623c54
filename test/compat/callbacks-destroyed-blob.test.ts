/**
 * Calls made after `ws._socket.destroy()` (before 'close') with a Blob among them: the callbacks
 * come in the order of the calls, and a Blob queued behind a message being compressed gets ws's
 * "… while data was being compressed" (ws had not begun to read it). Found by the differential
 * tester (differential.test.ts); run on the real `ws` and on ws-stream/ws with the same expectations.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { impls, listen } from './support.js';

const DESTROYED = 'ERR_STREAM_DESTROYED';
const COMPRESSING = 'The socket was closed while data was being compressed';
const BLOB = 'The socket was closed while the blob was being read';

for (const impl of impls) {
  describe(`${impl.name}: callbacks of calls with a Blob after _socket.destroy()`, () => {
    for (const [name, pmd, expected] of [
      ['a message, then a ping with a Blob', false, [`0 ${DESTROYED}`, `1 ${BLOB}`, `2 ${BLOB}`]],
      [
        'a compressed message, then a ping with a Blob',
        true,
        [`0 ${COMPRESSING}`, `1 ${COMPRESSING}`, `2 ${COMPRESSING}`],
      ],
    ] as const) {
      it(`${name}, then a message: in the order of the calls`, async (t) => {
        const { wss, port } = await listen(t, impl, { perMessageDeflate: pmd });
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
        client.on('error', () => {});
        t.after(() => client.terminate());
        const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
        const results: string[] = [];
        let allAnswered: () => void;
        const answered = new Promise<void>((resolve) => {
          allAnswered = resolve;
        });
        const cb = (n: number) => (err?: Error & { code?: string }) => {
          results.push(`${n} ${err?.code ?? err?.message ?? String(err)}`);
          if (results.length === 3) allAnswered();
        };
        const closed = new Promise((resolve) => server.on('close', resolve));
        server._socket.destroy();
        server.send('x'.repeat(3000), cb(0));
        server.ping(new Blob([new Uint8Array(125)]), cb(1));
        server.send('after the blob', cb(2));
        await Promise.all([closed, answered]);
        assert.deepEqual(results, expected);
      });
    }
  });
}

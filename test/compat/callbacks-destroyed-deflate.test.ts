/**
 * With permessage-deflate, calls made once the socket is destroyed (`ws._socket.destroy()`, before
 * 'close'): ws queues behind a message being compressed only what comes while one is, so a ping, a
 * pong or a message it sends uncompressed (`compress: false`, or under `threshold` where our side
 * has no context takeover) is written at once and gets the socket's ERR_STREAM_DESTROYED; a
 * compressed message, and what is sent behind it, gets "The socket was closed while data was being
 * compressed" (not what comes after a compressed message whose callback came: it was written). Found by the differential tester (differential.test.ts); run on the real `ws` and on
 * ws-stream/ws with the same expectations.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { impls, listen } from './support.js';

const DESTROYED = 'ERR_STREAM_DESTROYED';
const COMPRESSING = 'The socket was closed while data was being compressed';

for (const impl of impls) {
  describe(`${impl.name}: callbacks of calls made after _socket.destroy() with permessage-deflate`, () => {
    for (const [name, pmd, calls, expected] of [
      ['a ping, a pong', true, ['ping', 'pong'], [DESTROYED, DESTROYED]],
      ['a message with compress: false, then a ping', true, ['send-nocompress', 'ping'], [DESTROYED, DESTROYED]],
      [
        'a compressed message, then a ping and a pong behind it',
        true,
        ['send', 'ping', 'pong'],
        [COMPRESSING, COMPRESSING, COMPRESSING],
      ],
      ['a ping, then a compressed message', true, ['ping', 'send'], [DESTROYED, COMPRESSING]],
      [
        'a message under threshold without context takeover, then a ping',
        { serverNoContextTakeover: true },
        ['send', 'ping'],
        [DESTROYED, DESTROYED],
      ],
    ] as const) {
      it(`${name}: ${expected.join(', ')}`, async (t) => {
        const { wss, port } = await listen(t, impl, { perMessageDeflate: pmd });
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
        client.on('error', () => {});
        t.after(() => client.terminate());
        const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
        assert.equal(server.extensions, 'permessage-deflate');
        const results: string[] = [];
        let allAnswered: () => void;
        const answered = new Promise<void>((resolve) => {
          allAnswered = resolve;
        });
        const cb = (err?: Error & { code?: string }) => {
          results.push(err?.code ?? err?.message ?? String(err));
          if (results.length === calls.length) allAnswered();
        };
        const closed = new Promise((resolve) => server.on('close', resolve));
        server._socket.destroy();
        for (const call of calls) {
          if (call === 'ping') server.ping('p', cb);
          else if (call === 'pong') server.pong('q', cb);
          else if (call === 'send') server.send('short message', cb);
          else server.send('short message', { compress: false }, cb);
        }
        await Promise.all([closed, answered]);
        assert.deepEqual(results, expected);
      });
    }

    it(`a compressed message answered before the destroy, then a ping: ${DESTROYED}`, async (t) => {
      const { wss, port } = await listen(t, impl, { perMessageDeflate: true });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      client.on('error', () => {});
      t.after(() => client.terminate());
      const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      // Compressed and written: nothing is being compressed once its callback came.
      const earlier = await new Promise((resolve) => server.send('an earlier message', resolve));
      assert.equal(earlier, null);
      const closed = new Promise((resolve) => server.on('close', resolve));
      server._socket.destroy();
      const [err] = await new Promise<[(Error & { code?: string }) | undefined]>((resolve) =>
        server.ping('p', (e?: Error) => resolve([e])),
      );
      await closed;
      assert.equal(err?.code ?? err?.message, DESTROYED);
    });
  });
}

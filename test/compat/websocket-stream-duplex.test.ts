/**
 * `createWebSocketStream(ws, options)` as code written for ws uses it: text as strings in readableObjectMode,
 * backpressure (the WebSocket paused while the Duplex's buffer is full, resumed by a read), `end()` before the
 * connection opened, the Duplex's 'finish' once the socket finished, and its end and destruction once the
 * WebSocket closed, its destruction with the WebSocket's error (told once to a listener of the Duplex's), and an
 * 'error' emitted on the Duplex terminating the WebSocket. Run on the real `ws` and on ws-stream/ws with the same
 * expectations.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { impls, listen } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API, on both engines
type Any = any;

for (const impl of impls) {
  describe(`${impl.name}: createWebSocketStream`, () => {
    it('readableObjectMode: a text message is a string, a binary one a Buffer', async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on('connection', (s: Any) => {
        s.send('text');
        s.send(Buffer.from('binary'));
      });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const duplex = impl.createWebSocketStream(client, { readableObjectMode: true });
      const got: unknown[] = [];
      for await (const chunk of duplex) {
        got.push(chunk);
        if (got.length === 2) break;
      }
      assert.deepEqual(got, ['text', Buffer.from('binary')]);
    });

    it("the WebSocket is paused once the Duplex's buffer is full, and resumed by a read", async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on('connection', (s: Any) => {
        s.send('0123456789');
        s.send('0123456789');
      });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const duplex = impl.createWebSocketStream(client, { readableHighWaterMark: 16 });
      // Listens after the Duplex's own listener: sees whether pushing the message paused the WebSocket.
      const paused: boolean[] = [];
      const both = new Promise<void>((resolve) =>
        client.on('message', () => {
          paused.push(client.isPaused);
          if (paused.length === 2) resolve();
        }),
      );
      await both;
      assert.deepEqual(paused, [false, true]); // 10 bytes, then 20 over the mark of 16
      assert.equal(String(duplex.read()), '01234567890123456789');
      assert.equal(client.isPaused, false);
      duplex.destroy();
      await once(duplex, 'close');
    });

    it('end() before the connection opened closes the WebSocket once it opens', async (t) => {
      const { wss, port } = await listen(t, impl);
      const serverClosed = new Promise<number>((resolve) =>
        wss.on('connection', (s: Any) => s.on('close', (code: number) => resolve(code))),
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const duplex = impl.createWebSocketStream(client);
      duplex.resume();
      duplex.end();
      assert.equal(await serverClosed, 1005);
      await once(duplex, 'close');
      assert.equal(client.readyState, 3);
    });

    it("'finish' once the socket finished: end() sends the close frame and waits for the closing handshake", async (t) => {
      const { port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const duplex = impl.createWebSocketStream(client);
      duplex.resume();
      await once(client, 'open');
      duplex.end();
      await once(duplex, 'finish');
      assert.equal(client._socket.writableFinished, true);
      await once(duplex, 'close');
    });

    it("the WebSocket's error destroys the Duplex with it: one 'error' to its listener, then 'close'", async (t) => {
      const { wss, port } = await listen(t, impl);
      // Invalid UTF-8 in a text message: the client fails the connection with WS_ERR_INVALID_UTF8.
      wss.on('connection', (s: Any) => s._socket.write(Buffer.from([0x81, 0x02, 0x61, 0xff])));
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const duplex = impl.createWebSocketStream(client);
      const seen: string[] = [];
      duplex.on('error', (e: Error & { code?: string }) => seen.push(`error ${e.code}`));
      // Not events.once: it rejects on 'error'.
      const closed = new Promise((resolve) => duplex.on('close', resolve));
      duplex.resume();
      await closed;
      seen.push(`close, destroyed ${duplex.destroyed}`);
      assert.deepEqual(seen, ['error WS_ERR_INVALID_UTF8', 'close, destroyed true']);
    });

    it("an 'error' emitted on the Duplex destroys it and terminates the WebSocket", async (t) => {
      const { port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const duplex = impl.createWebSocketStream(client);
      await once(client, 'open');
      const seen: string[] = [];
      duplex.on('error', (e: Error) => seen.push(`error ${e.message}`));
      duplex.emit('error', new Error('from a pipeline'));
      const [code] = await once(client, 'close');
      seen.push(`close ${code}, destroyed ${duplex.destroyed}`);
      assert.deepEqual(seen, ['error from a pipeline', 'close 1006, destroyed true']);
    });

    it("the peer's close ends the readable side, which alone does not destroy the Duplex; end() then does", async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on('connection', (s: Any) => s.close(1000));
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const duplex = impl.createWebSocketStream(client);
      const ended = new Promise<boolean>((resolve) => duplex.on('end', () => resolve(duplex.destroyed)));
      duplex.resume();
      assert.equal(await ended, false);
      if (client.readyState !== 3) await once(client, 'close');
      duplex.end();
      await once(duplex, 'close');
      assert.equal(duplex.destroyed, true);
    });
  });
}

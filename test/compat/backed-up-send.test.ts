/**
 * A server that sends one Buffer again and again to a client that does not read (ws's broadcast loop,
 * `for (const c of wss.clients) c.send(data)`, with a slow client among them): once the socket is backed up, ws
 * hands each frame's payload to it as the caller's Buffer (Node's Writable holds it by reference), so what waits
 * for the client costs a reference per message, not a copy. ws-stream/ws copied every payload of up to 64 KiB
 * at the call (to read the bytes at the call, as ws does when the socket takes them at once): a client that never
 * reads held a copy of every message (10 such clients sent one 16 KiB Buffer 20 times every 10 ms: 870 MB of
 * ArrayBuffers after 4 s, ws 1 MB). Run on both engines; the client finally reads every message, unchanged.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { type Impl, impls, listen, ws } from './support.js';

/** Bytes of one message: 16 KiB, over the size the write queue joins with its neighbours and under 64 KiB. */
const SIZE = 16 * 1024;

/**
 * A connection on `impl` whose client has paused, with `payload` sent to it until the server's socket keeps bytes
 * (the kernel's buffers are full); `sent`: how many messages that took.
 */
async function backedUp(t: TestContext, impl: Impl) {
  const { wss, port } = await listen(t, impl);
  const connection = once(wss, 'connection');
  const client = new ws.WebSocket(`ws://127.0.0.1:${port}`);
  t.after(() => client.terminate());
  const [server] = await connection;
  if (client.readyState !== client.OPEN) await once(client, 'open');
  client.pause();
  const payload = Buffer.alloc(SIZE, 0x5a);
  let sent = 0;
  while (server._socket.writableLength === 0) {
    for (let i = 0; i < 64; i++) server.send(payload);
    sent += 64;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { server, client, payload, sent };
}

for (const impl of impls) {
  describe(`a send to a backed-up socket on ${impl.name}`, () => {
    it("waits in the socket as the caller's Buffer (no copy per message); the client reads them all", async (t) => {
      const { server, client, payload, sent: filled } = await backedUp(t, impl);
      let sent = filled;
      // From now on what is sent waits in the socket: see what it is handed.
      const handed: Buffer[] = [];
      const write = server._socket.write.bind(server._socket);
      server._socket.write = (chunk: unknown, ...rest: unknown[]) => {
        if (Buffer.isBuffer(chunk) && chunk.length >= SIZE) handed.push(chunk);
        return write(chunk, ...rest);
      };
      const more = 100;
      for (let i = 0; i < more; i++) server.send(payload);
      sent += more;
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(handed.length, more, 'each payload was handed to the socket once, on its own');
      assert.ok(
        handed.every((b) => b === payload),
        "the socket holds the caller's Buffer, not a copy of it",
      );
      // The client reads: every message arrives, each with the payload's bytes.
      let received = 0;
      let wrong = 0;
      const all = new Promise<void>((resolve) =>
        client.on('message', (data: Buffer) => {
          if (!data.equals(payload)) wrong++;
          if (++received === sent) resolve();
        }),
      );
      client.resume();
      await all;
      assert.equal(wrong, 0);
    });

    it("terminated with sends still in its socket: the socket's own 'close' listener hears no error", async (t) => {
      const { server, payload } = await backedUp(t, impl);
      // An app watching the connection's socket, as it may on ws (logging a close with an error, say).
      // (A 'close' listener alone: events.once would listen to 'error' too.)
      const socketClosed = new Promise((resolve) => server._socket.on('close', resolve));
      const sent = new Promise((resolve) => server.send(payload, resolve));
      server.terminate();
      assert.equal(await socketClosed, false, 'hadError');
      assert.equal(((await sent) as NodeJS.ErrnoException).code, 'ERR_STREAM_DESTROYED');
    });
  });
}

/**
 * `bufferedAmount` right after a message over 64 KiB is the socket's backlog (`_socket.writableLength`), on a client
 * as on a server: ws writes each frame to the socket at once, and ws-stream/ws writes such a message at once too,
 * with what the turn queued before it (doc/ws-compat.md: "`bufferedAmount`"). A client masks its payload into a
 * frame of its own: that frame went out on the next tick before, and `bufferedAmount` counted all of it. Run on the
 * real `ws` and on ws-stream/ws with the same expectations.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { impls, listen } from './support.js';

const large = {
  'a Buffer of 1 MiB': (): Buffer | string => Buffer.alloc(1 << 20, 0x61),
  'a string of 100,000 é (200,000 bytes)': (): Buffer | string => 'é'.repeat(100_000),
  // Under 64 KiB in UTF-16 code units, over it in UTF-8: the size that counts is the frame's.
  'a string of 40,000 é (80,000 bytes)': (): Buffer | string => 'é'.repeat(40_000),
};

for (const impl of impls) {
  describe(`${impl.name}: bufferedAmount after a message over 64 KiB`, () => {
    for (const [name, make] of Object.entries(large)) {
      for (const role of ['client', 'server'] as const) {
        it(`${role}, ${name}: the socket's backlog, and the message behind the one sent before it`, async (t) => {
          const { wss, port } = await listen(t, impl);
          const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
          t.after(() => client.terminate());
          const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
          const [sender, receiver] = role === 'client' ? [client, server] : [server, client];
          const received: string[] = [];
          const both = new Promise<void>((resolve) =>
            receiver.on('message', (data: Buffer) => {
              received.push(`${data.length}`);
              if (received.length === 2) resolve();
            }),
          );
          const data = make();
          sender.send('first');
          sender.send(data);
          assert.equal(sender.bufferedAmount, sender._socket.writableLength);
          await both;
          assert.deepEqual(received, ['5', `${Buffer.byteLength(data)}`]);
        });
      }
    }
  });
}

for (const impl of impls) {
  describe(`${impl.name}: bufferedAmount while a Blob is read`, () => {
    it('counts the Blob and the sends, pings and pongs waiting behind it, then nothing once they went', async (t) => {
      const { wss, port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
      t.after(() => client.terminate());
      const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      const received: string[] = [];
      const all = new Promise<void>((resolve) => {
        const got = (what: string) => {
          received.push(what);
          if (received.length === 4) resolve();
        };
        server.on('message', (data: Buffer) => got(`message ${data}`));
        server.on('ping', (data: Buffer) => got(`ping ${data}`));
        server.on('pong', (data: Buffer) => got(`pong ${data}`));
      });
      client.send(new Blob(['abcdef']));
      client.send('é'); // 2 bytes
      client.ping('p');
      client.pong('qq');
      assert.equal(client.bufferedAmount, 6 + 2 + 1 + 2);
      await all;
      assert.deepEqual(received, ['message abcdef', 'message é', 'ping p', 'pong qq']);
      assert.equal(client.bufferedAmount, 0);
    });
  });
}

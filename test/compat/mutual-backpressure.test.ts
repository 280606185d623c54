/**
 * Both ends sending faster than the other reads: a client that sends 40 MiB in one turn to a server that echoes
 * each message at once. With ws on both ends every echo comes back. With ws-stream/ws on both ends the server stops
 * reading from the client once 16 MiB wait for it (doc/ws-compat.md, Backpressure), and the client used to do the
 * same while its own 40 MiB waited: each waited for the other to read, and nothing moved again. ws's client keeps
 * reading whatever its sends wait for; ours now does too, and the server's limit alone keeps the flow.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { impls, listen } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Ws = any;

const MESSAGES = 10;
const SIZE = 4 * 1024 * 1024;

for (const impl of impls) {
  describe(`${impl.name}: client and server both flooding each other`, () => {
    it(`${MESSAGES} messages of 4 MiB sent in one turn all come back from an echoing server, in order`, async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on('connection', (sws: Ws) => sws.on('message', (data: Buffer) => sws.send(data)));
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
      t.after(() => client.terminate());
      await once(client, 'open');
      const echoed: string[] = [];
      const all = new Promise<void>((resolve) =>
        client.on('message', (data: Buffer) => {
          echoed.push(`${data.readUInt32BE(0)}:${data.length}:${data[data.length - 1]}`);
          if (echoed.length === MESSAGES) resolve();
        }),
      );
      for (let i = 0; i < MESSAGES; i++) {
        const message = Buffer.alloc(SIZE, i);
        message.writeUInt32BE(i);
        client.send(message);
      }
      await all;
      assert.deepEqual(
        echoed,
        Array.from({ length: MESSAGES }, (_, i) => `${i}:${SIZE}:${i}`),
      );
    });
  });
}

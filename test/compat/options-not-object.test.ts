/**
 * ws spreads a client's options over its defaults, so options that are not an object (null, a
 * number, a string) add nothing and the client connects as with none; ws-stream/ws threw a bare
 * TypeError ("Cannot use 'in' operator") for them. Run on the real `ws` and on ws-stream/ws alike.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { impls, listen } from './support.js';

for (const impl of impls) {
  describe(`${impl.name}: client options that are not an object`, () => {
    for (const options of [null, 0, 'x', true]) {
      it(`new WebSocket(url, [], ${JSON.stringify(options)}) connects with the defaults and a message echoes`, async (t) => {
        const { wss, port } = await listen(t, impl);
        wss.on(
          'connection',
          (s: { on(e: string, f: (d: unknown, b: boolean) => void): void; send(d: unknown, o: object): void }) =>
            s.on('message', (d, binary) => s.send(d, { binary })),
        );
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`, [], options as never);
        await once(client, 'open');
        assert.equal(client.protocol, '');
        client.send('echo me');
        const [data] = await once(client, 'message');
        assert.equal(String(data), 'echo me');
        client.close();
        await once(client, 'close');
      });
    }
  });
}

/**
 * ws spreads a client's options over its defaults, so options that are not an object (null, a
 * number, a string) add nothing and the client connects as with none; ws-stream/ws threw a bare
 * TypeError ("Cannot use 'in' operator") for them. Run on the real `ws` and on ws-stream/ws alike.
 * And a count with no number form: a TypeError naming it from either constructor (doc/ws-compat.md).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { compat, impls, listen } from './support.js';

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

describe('ws-stream/ws: maxPayload or maxFragments with no number form', () => {
  it('a TypeError naming the option from the WebSocketServer and WebSocket constructors', () => {
    for (const value of [Symbol('n'), 10n, Object.create(null)]) {
      for (const name of ['maxPayload', 'maxFragments']) {
        assert.throws(() => new compat.WebSocketServer({ noServer: true, [name]: value }), {
          name: 'TypeError',
          message: `${name} must be a number`,
        });
        assert.throws(() => new compat.WebSocket('ws://127.0.0.1:1/', { [name]: value } as never), {
          name: 'TypeError',
          message: `${name} must be a number`,
        });
      }
    }
  });
});

/**
 * send/ping/pong with a callback that is not a function. ws takes a falsy one as none and throws a
 * TypeError for any other (from the middle of its frame write, the header already gone, so its
 * connection is broken after it); ws-stream/ws threw nothing and crashed the process later
 * ("cb is not a function" out of its callback queue). Now it throws a TypeError before a byte goes
 * and the connection carries on. Run on the real `ws` and on ws-stream/ws alike.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { compat, impls, listen } from './support.js';

interface Peer {
  on(e: string, f: (d: unknown, b: boolean) => void): void;
  send(d: unknown, o?: unknown, cb?: unknown): void;
  ping(d?: unknown, m?: unknown, cb?: unknown): void;
  pong(d?: unknown, m?: unknown, cb?: unknown): void;
  close(code?: number): void;
  terminate(): void;
}

const BAD = [5, 'abc', {}, [() => {}]];

for (const impl of impls) {
  describe(`${impl.name}: a send/ping/pong callback that is not a function`, () => {
    it('a falsy one (null, 0, "") is none: the message goes', async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on('connection', (s: Peer) => s.on('message', (d, binary) => s.send(d, { binary })));
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`) as unknown as Peer;
      await once(client as never, 'open');
      const got: string[] = [];
      client.on('message', (d) => got.push(String(d)));
      client.send('a', {}, null);
      client.send('b', {}, 0);
      client.ping('p', undefined, '');
      client.send('c', {}, '');
      while (got.length < 3) await once(client as never, 'message');
      assert.deepEqual(got, ['a', 'b', 'c']);
      client.close();
      await once(client as never, 'close');
    });

    it('any other throws a TypeError from the call, open or closed', async (t) => {
      const { wss, port } = await listen(t, impl);
      wss.on('connection', () => {});
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`) as unknown as Peer;
      await once(client as never, 'open');
      let calls = 0;
      for (const cb of BAD) {
        assert.throws(() => client.send('x', {}, cb), TypeError);
        assert.throws(() => client.ping('x', undefined, cb), TypeError);
        assert.throws(() => client.pong('x', undefined, cb), TypeError);
        calls += 3;
      }
      assert.equal(calls, 12);
      // (ws's connection is broken by then: its close handshake would wait out closeTimeout)
      client.terminate();
      await once(client as never, 'close');
      for (const cb of BAD) assert.throws(() => client.send('x', {}, cb), TypeError);
    });
  });
}

describe('ws-stream/ws: a refused callback leaves the connection as it was', () => {
  it('nothing was sent, nothing is thrown later, a message after it echoes and the close is clean', async (t) => {
    const { wss, port } = await listen(t, compat);
    const serverGot: string[] = [];
    wss.on('connection', (s: Peer) =>
      s.on('message', (d, binary) => {
        serverGot.push(String(d));
        s.send(d, { binary });
      }),
    );
    const thrown: unknown[] = [];
    const onThrow = (e: unknown): void => {
      thrown.push(e);
    };
    process.on('uncaughtException', onThrow);
    t.after(() => process.off('uncaughtException', onThrow));
    const client = new compat.WebSocket(`ws://127.0.0.1:${port}/`) as unknown as Peer;
    await once(client as never, 'open');
    for (const cb of BAD) {
      assert.throws(() => client.send('refused', {}, cb), {
        name: 'TypeError',
        code: 'ERR_INVALID_ARG_TYPE',
        message: /^The "cb" argument must be of type function\. Received /,
      });
      assert.throws(() => client.ping('refused', undefined, cb), TypeError);
    }
    const pong = once(client as never, 'pong');
    client.ping('after');
    client.send('after');
    const [data] = await once(client as never, 'message');
    assert.equal(String(data), 'after');
    assert.equal(String((await pong)[0]), 'after');
    assert.deepEqual(serverGot, ['after']);
    client.close(1000);
    const [code] = await once(client as never, 'close');
    assert.equal(code, 1000);
    assert.deepEqual(thrown, []);
  });
});

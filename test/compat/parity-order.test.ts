/**
 * Event timing as ws's option `allowSynchronousEvents: false` defines it — each 'message', 'ping'
 * and 'pong' on a turn of its own, in wire order — on the real `ws` and on ws-stream/ws.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { type Impl, impls, listen, ws as realWs } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

/** Server frames (unmasked): ping 'x', text 'a', text 'b', empty ping, text 'c', pong 'y', text 'd'. */
const FRAMES = Buffer.from('890178' + '810161' + '810162' + '8900' + '810163' + '8a0179' + '810164', 'hex');

async function eventsOf(t: import('node:test').TestContext, impl: Impl): Promise<string[]> {
  const { wss, port } = await listen(t, impl, { allowSynchronousEvents: false });
  const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { allowSynchronousEvents: false });
  t.after(() => client.terminate());
  const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
  const events: string[] = [];
  const done = new Promise<void>((resolve) => {
    const record = (name: string) => (data: Buffer) => {
      events.push(`${name} ${data}`);
      // A nextTick queued by a listener runs before the next event when events have turns of their own.
      process.nextTick(() => events.push('tick'));
      if (name === 'message' && String(data) === 'd') setImmediate(resolve);
    };
    for (const name of ['message', 'ping', 'pong']) client.on(name, record(name));
  });
  (server as Any)._socket.write(FRAMES);
  await done;
  return events;
}

for (const impl of impls) {
  describe(`${impl.name}: permessage-deflate, pings and pongs in the order of the calls`, () => {
    /** A server of `impl` with permessage-deflate on every message, and a real ws client watching the wire. */
    async function deflating(t: import('node:test').TestContext): Promise<[Any, Any]> {
      const { wss, port } = await listen(t, impl, { perMessageDeflate: { threshold: 0 } });
      const client = new realWs.WebSocket(`ws://127.0.0.1:${port}`);
      t.after(() => client.terminate());
      const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      return [server, client];
    }

    it('a ping or pong sent after messages reaches the peer after them, the close frame last; callbacks in order', async (t) => {
      const [server, client] = await deflating(t);
      const seen: string[] = [];
      client.on('message', (d: Buffer) => seen.push(`message ${d}`));
      client.on('ping', (d: Buffer) => seen.push(`ping ${d}`));
      client.on('pong', (d: Buffer) => seen.push(`pong ${d}`));
      const calls: string[] = [];
      const cb = (name: string) => (e: Error | null) => calls.push(`${name} ${e}`);
      server.send('a', cb('a'));
      server.send('b');
      server.ping('p', cb('ping'));
      server.send('c', cb('c'));
      server.pong('q', cb('pong'));
      server.close(4000);
      const [code] = await once(client, 'close');
      assert.deepEqual(seen, ['message a', 'message b', 'ping p', 'message c', 'pong q']);
      assert.deepEqual(calls, ['a null', 'ping null', 'c null', 'pong null']);
      assert.equal(code, 4000);
    });

    it('terminate() while a ping waits behind a compressing message: both fail with ws’s error, in order', async (t) => {
      const [server] = await deflating(t);
      const calls: string[] = [];
      const cb = (name: string) => (e: Error | null) => calls.push(`${name} ${e?.message} ${server.readyState}`);
      server.send('a'.repeat(100000), cb('a'));
      server.ping('p', cb('ping'));
      server.send('c', cb('c'));
      server.terminate();
      server.pong(cb('pong'));
      const [code] = await once(server, 'close');
      const closed = 'The socket was closed while data was being compressed 2';
      assert.deepEqual(calls, [
        'pong WebSocket is not open: readyState 2 (CLOSING) 2',
        `a ${closed}`,
        `ping ${closed}`,
        `c ${closed}`,
      ]);
      assert.equal(code, 1006);
    });
  });

  describe(`${impl.name}: calls behind a Blob being read`, () => {
    it('pings and pongs wait their turn behind it, a Blob ping payload is read first; callbacks in order', async (t) => {
      const { wss, port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      t.after(() => client.terminate());
      const [[server]] = await Promise.all([once(wss, 'connection'), once(client, 'open')]);
      const seen: string[] = [];
      server.on('message', (m: Buffer) => seen.push(`message ${m}`));
      server.on('ping', (d: Buffer) => seen.push(`ping ${d}`));
      server.on('pong', (d: Buffer) => seen.push(`pong ${d}`));
      const calls: string[] = [];
      const cb = (name: string) => (e: Error | null) => calls.push(`${name} ${e}`);
      client.send(new Blob(['b1']), cb('blob'));
      client.ping('p1', cb('ping'));
      client.ping(new Blob(['pb']), cb('blob ping'));
      client.send('t', cb('text'));
      client.pong(new Blob(['qb']), cb('blob pong'));
      assert.throws(
        () => client.ping(new Blob(['x'.repeat(126)])),
        /^RangeError: The data size must not be greater than 125 bytes$/,
      );
      client.close();
      await once(server, 'close');
      assert.deepEqual(seen, ['message b1', 'ping p1', 'ping pb', 'message t', 'pong qb']);
      assert.deepEqual(calls, ['blob null', 'ping null', 'blob ping null', 'text null', 'blob pong null']);
    });
  });

  describe(`${impl.name}: allowSynchronousEvents: false`, () => {
    it('each message, ping and pong is emitted on a turn of its own, in wire order', async (t) => {
      const events = await eventsOf(t, impl);
      assert.deepEqual(events, [
        'ping x',
        'tick',
        'message a',
        'tick',
        'message b',
        'tick',
        'ping ',
        'tick',
        'message c',
        'tick',
        'pong y',
        'tick',
        'message d',
        'tick',
      ]);
    });
  });
}

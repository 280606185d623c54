/**
 * send() options and data, and close() reasons, of the wrong type: ws spreads the options over its
 * defaults once (`{ binary, compress, fin, ...options }`) and takes each for its truth, and builds a
 * Buffer over the bytes of a view. ws-stream/ws read the options where it used them: `null` threw,
 * a getter that throws threw after the callback was queued (that callback was then called at the
 * close with an error, and every callback behind it waited for the close too), `{ fin: undefined }`
 * ended the message. Run on the real `ws` and on ws-stream/ws alike.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { impls, listen } from './support.js';

interface Peer {
  on(e: string, f: (d: unknown, b: boolean) => void): void;
  send(d: unknown, o?: unknown, cb?: unknown): void;
  ping(d?: unknown, m?: unknown, cb?: unknown): void;
  close(code?: unknown, reason?: unknown): void;
  readyState: number;
}

/** A server that records what it gets, and a client open to it. */
async function open(
  t: Parameters<typeof listen>[0],
  impl: (typeof impls)[number],
): Promise<{ client: Peer; got: string[]; next(): Promise<string> }> {
  const { wss, port } = await listen(t, impl);
  const got: string[] = [];
  const waiting: ((s: string) => void)[] = [];
  wss.on('connection', (s: Peer) =>
    s.on('message', (d, binary) => {
      const m = `${binary ? 'binary' : 'text'}:${String(d)}`;
      const w = waiting.shift();
      if (w) w(m);
      else got.push(m);
      s.send(d, { binary });
    }),
  );
  const client = new impl.WebSocket(`ws://127.0.0.1:${port}/`) as unknown as Peer;
  await once(client as never, 'open');
  const next = (): Promise<string> => {
    const m = got.shift();
    return m !== undefined ? Promise.resolve(m) : new Promise((resolve) => waiting.push(resolve));
  };
  return { client, got, next };
}

const throwingGetter = {
  get fin(): boolean {
    throw new Error('getter');
  },
};

for (const impl of impls) {
  describe(`${impl.name}: send() and close() arguments of the wrong type`, () => {
    it('options null, a number or a string add nothing: the message goes whole, as text', async (t) => {
      const { client, next } = await open(t, impl);
      client.send('a', null);
      client.send('b', 5);
      client.send('c', 'fin');
      assert.deepEqual([await next(), await next(), await next()], ['text:a', 'text:b', 'text:c']);
    });

    it('options whose getter throws: the call throws, its callback is never called, the next one is answered at once', async (t) => {
      const { client, next } = await open(t, impl);
      const calls: string[] = [];
      assert.throws(() => client.send('lost', throwingGetter, () => calls.push('refused call')), /getter/);
      client.send('after', () => calls.push('after'));
      assert.equal(await next(), 'text:after');
      // The callback of 'after' came once the socket took it, long before the echo came back.
      await once(client as never, 'message');
      assert.deepEqual(calls, ['after']);
      client.close();
      await once(client as never, 'close');
      assert.deepEqual(calls, ['after']);
    });

    it('options are read once each: getters that answer otherwise the second time are taken at their first answer', async (t) => {
      const { client, next } = await open(t, impl);
      const reads = { binary: 0, compress: 0, fin: 0 };
      const options = {
        get binary(): boolean {
          return reads.binary++ === 0;
        },
        get compress(): boolean {
          return reads.compress++ !== 0;
        },
        get fin(): boolean {
          return reads.fin++ === 0;
        },
      };
      client.send('once', options);
      assert.deepEqual(reads, { binary: 1, compress: 1, fin: 1 });
      assert.equal(await next(), 'binary:once');
    });

    it('{ fin: undefined }, { fin: 0 } and { fin: null } are fragments; the next send ends the message', async (t) => {
      const { client, next } = await open(t, impl);
      client.send('a', { fin: undefined });
      client.send('b', { fin: 0 });
      client.send('c', { fin: null });
      client.send('d');
      assert.equal(await next(), 'text:abcd');
    });

    it('{ binary: undefined } sends a Buffer as text, { binary: 1 } a string as binary', async (t) => {
      const { client, next } = await open(t, impl);
      client.send(Buffer.from('buf'), { binary: undefined });
      client.send('str', { binary: 1 });
      assert.deepEqual([await next(), await next()], ['text:buf', 'binary:str']);
    });

    it('bytes over a detached ArrayBuffer: a TypeError from send and ping, and the connection goes on', async (t) => {
      const { client, next } = await open(t, impl);
      const view = new Uint8Array([1, 2, 3]);
      structuredClone(view.buffer, { transfer: [view.buffer] });
      assert.throws(() => client.send(view), TypeError);
      assert.throws(() => client.send(view.buffer), TypeError);
      assert.throws(() => client.ping(view), TypeError);
      client.send('still open');
      assert.equal(await next(), 'text:still open');
    });

    it("a close reason with a length that is no string or bytes: Node's TypeError from Buffer.byteLength", async (t) => {
      const { client } = await open(t, impl);
      for (const reason of [[1, 2], { length: 3 }])
        assert.throws(() => client.close(1000, reason), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      // One with no length is no reason; bytes of another kind are refused by type.
      assert.throws(() => client.close(1000, new Uint16Array(2)), {
        name: 'TypeError',
        message: 'Second argument must be a string or a Uint8Array',
      });
      assert.equal(client.readyState, 1);
      client.close(1000, { length: 0 });
      const [code] = await once(client as never, 'close');
      assert.equal(code, 1000);
    });
  });
}

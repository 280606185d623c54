/**
 * More code written for `ws`, run on the real `ws` and on ws-stream/ws with the same expectations:
 * what a failed connection's close frame says, what `send` makes of unusual data (and when it
 * throws), Blobs before close() and terminate(), pause()/resume() inside a 'message' listener.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { impls, listen } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Any = any;

function describeError(e: unknown): string {
  if (e === null || e === undefined) return String(e);
  const err = e as Error & { code?: string };
  return `${err.constructor.name}${err.code ? ` ${err.code}` : ''}: ${err.message}`;
}

for (const impl of impls) {
  describe(`${impl.name}: application patterns`, () => {
    it('a protocol violation: the failing side sends its close code alone; the other sees (1002, empty)', async (t) => {
      const { wss, port } = await listen(t, impl);
      const serverClose = new Promise<string>((resolve) =>
        wss.on('connection', (s: Any) => {
          s.on('close', (code: number, reason: Buffer) => resolve(`${code} ${JSON.stringify(String(reason))}`));
          s._socket.write(Buffer.from([0x85, 0x00])); // opcode 5: reserved
        }),
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      const errors: string[] = [];
      client.on('error', (e: Error) => errors.push(describeError(e)));
      // Not events.once: it rejects on the 'error' that comes first.
      const [code, reason] = await new Promise<[number, Buffer]>((resolve) =>
        client.on('close', (...a: [number, Buffer]) => resolve(a)),
      );
      assert.deepEqual(errors, ['RangeError WS_ERR_INVALID_OPCODE: Invalid WebSocket frame: invalid opcode 5']);
      assert.deepEqual([code, reason], [1006, Buffer.alloc(0)]);
      assert.equal(await serverClose, '1002 ""');
    });

    it("maxPayload exceeded: the server's error, and the client sees 1009 with an empty reason", async (t) => {
      const { wss, port } = await listen(t, impl, { maxPayload: 10, perMessageDeflate: true });
      const server = new Promise<string[]>((resolve) =>
        wss.on('connection', (s: Any) => {
          const seen: string[] = [];
          s.on('message', (m: Buffer) => seen.push(`message ${m.length}`));
          s.on('error', (e: Error) => seen.push(describeError(e)));
          s.on('close', (code: number) => resolve([...seen, `close ${code}`]));
        }),
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      client.send('x'.repeat(10));
      client.send('x'.repeat(11));
      const [code, reason] = await once(client, 'close');
      assert.deepEqual([code, String(reason)], [1009, '']);
      assert.deepEqual(await server, [
        'message 10',
        'RangeError WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: Max payload size exceeded',
        'close 1006',
      ]);
    });

    it('send: numbers as text, false/null/undefined as empty binary, arrays as bytes; an object throws at once', async (t) => {
      const { wss, port } = await listen(t, impl);
      const got: string[] = [];
      const all = new Promise<void>((resolve) =>
        wss.on('connection', (s: Any) =>
          s.on('message', (m: Buffer, binary: boolean) => {
            got.push(`${binary ? 'binary' : 'text'} ${m.toString('hex')}`);
            if (got.length === 9) resolve();
          }),
        ),
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      const thrown: string[] = [];
      for (const bad of [true, { a: 1 }]) {
        assert.throws(
          () => client.send(bad),
          (e) => {
            thrown.push(describeError(e).split(':')[0]!);
            return true;
          },
        );
      }
      client.send(new Blob(['b']));
      // Behind a Blob being read, bad data still throws at once (ws converts before queueing).
      assert.throws(() => client.send({ b: 2 }), TypeError);
      for (const data of [0, false, null, undefined, '', [1, 2], Number.NaN, new Uint16Array([258])]) client.send(data);
      await all;
      assert.deepEqual(thrown, ['TypeError ERR_INVALID_ARG_TYPE', 'TypeError ERR_INVALID_ARG_TYPE']);
      assert.deepEqual(got, [
        'binary 62',
        'text 30',
        'binary ',
        'binary ',
        'binary ',
        'text ',
        'binary 0102',
        'text 4e614e',
        'binary 0201',
      ]);
      client.close();
      await once(client, 'close');
    });

    it('a Blob, a send, then close(): both reach the peer before the close frame; callbacks null', async (t) => {
      const { wss, port } = await listen(t, impl);
      const server = new Promise<string[]>((resolve) =>
        wss.on('connection', (s: Any) => {
          const seen: string[] = [];
          s.on('message', (m: Buffer) => seen.push(`got ${m}`));
          s.on('close', (code: number) => resolve([...seen, `close ${code}`]));
        }),
      );
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      const log: string[] = [];
      client.send(new Blob(['from a blob']), (e: unknown) => log.push(`blob ${describeError(e)}`));
      client.send('after it', (e: unknown) => log.push(`send ${describeError(e)}`));
      client.close(1000);
      client.send('refused', (e: unknown) => log.push(`refused ${describeError(e)}`));
      const [code] = await once(client, 'close');
      assert.equal(code, 1000);
      assert.deepEqual(log, ['refused Error: WebSocket is not open: readyState 2 (CLOSING)', 'blob null', 'send null']);
      assert.deepEqual(await server, ['got from a blob', 'got after it', 'close 1000']);
    });

    it('a Blob, a send, then terminate(): both callbacks get ws’s "closed while the blob was being read"', async (t) => {
      const { port } = await listen(t, impl);
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`);
      await once(client, 'open');
      const log: string[] = [];
      client.send(new Blob(['x']), (e: unknown) => log.push(`blob ${describeError(e)} [${client.readyState}]`));
      client.send('y', (e: unknown) => log.push(`send ${describeError(e)} [${client.readyState}]`));
      client.terminate();
      await once(client, 'close');
      // ws answers them on a later tick, which may come after 'close'.
      while (log.length < 2) await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(
        log.map((l) => l.replace(/ \[\d\]$/, '')),
        [
          'blob Error: The socket was closed while the blob was being read',
          'send Error: The socket was closed while the blob was being read',
        ],
      );
    });

    it('bufferedAmount counts messages still being compressed; 0 once the last callback comes', async (t) => {
      const { port } = await listen(t, impl, { perMessageDeflate: true });
      const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: { threshold: 0 } });
      await once(client, 'open');
      const amounts = [client.bufferedAmount];
      client.send('foo');
      amounts.push(client.bufferedAmount);
      const sent = new Promise<void>((resolve) =>
        client.send('bar', (err: unknown) => {
          assert.equal(err, null);
          amounts.push(client.bufferedAmount);
          resolve();
        }),
      );
      amounts.push(client.bufferedAmount);
      await sent;
      assert.deepEqual(amounts, [0, 3, 6, 0]);
      client.close();
      await once(client, 'close');
    });

    for (const allowSynchronousEvents of [true, false]) {
      it(`pause() and resume() inside a 'message' listener lose nothing (allowSynchronousEvents: ${allowSynchronousEvents})`, async (t) => {
        const { wss, port } = await listen(t, impl);
        wss.on('connection', (s: Any) => {
          for (let i = 0; i < 20; i++) s.send(`m${i}`);
          s.close(1000);
        });
        const client = new impl.WebSocket(`ws://127.0.0.1:${port}`, { allowSynchronousEvents });
        const got: string[] = [];
        client.on('message', (m: Buffer) => {
          got.push(String(m));
          client.pause();
          client.resume();
        });
        client.on('error', (e: Error) => got.push(describeError(e)));
        const [code] = await once(client, 'close');
        assert.equal(code, 1000);
        assert.deepEqual(
          got,
          Array.from({ length: 20 }, (_, i) => `m${i}`),
        );
      });
    }
  });
}

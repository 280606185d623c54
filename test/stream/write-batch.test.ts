/**
 * The write path shared by many streams, over real sockets with the stream's own DuplexLayer (no
 * recording subclass, so the path that writes frames nobody waits for without a callback is the one
 * taken): one tick flushes every stream written to in a turn, joins carved out of a shared slab,
 * and frames nobody waits for still complete (bufferedAmount, read-side flow) when the socket backs up.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketStream, type StreamOptions } from '../../src/index.js';
import { queuePreparedFrame } from '../../src/stream/prepared.js';
import { RawClient } from '../conformance/raw-client.js';
import { binary, text } from '../support/frames.js';
import { random } from '../support/random.js';

/** An HTTP server that accepts every upgrade into a WebSocketStream over the socket as it is. */
async function startServer(options: StreamOptions = {}) {
  const ready: WebSocketStream[] = [];
  const waiting: ((ws: WebSocketStream) => void)[] = [];
  const all: WebSocketStream[] = [];
  const server = http.createServer();
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    const ws = new WebSocketStream(socket, options);
    all.push(ws);
    ws.accept(req, { head }).then(
      () => {
        const w = waiting.shift();
        if (w) w(ws);
        else ready.push(ws);
      },
      () => {},
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    next: (): Promise<WebSocketStream> => {
      const ws = ready.shift();
      return ws ? Promise.resolve(ws) : new Promise((resolve) => waiting.push(resolve));
    },
    close: async () => {
      for (const ws of all) ws.nextLayer.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const server = await startServer();
after(() => server.close());

async function pair(port = server.port, next = server.next) {
  const client = await RawClient.connect(port);
  return { client, ws: await next() };
}

describe('writes of many streams in one turn', () => {
  it('every stream written to in one turn gets its own bytes, in order, byte-exact (writes, prepared frames, joins over 4 KiB)', async (t) => {
    const seed = Date.now() >>> 0;
    console.log(`seed ${seed}`);
    const rnd = random(seed);
    const pairs = await Promise.all(Array.from({ length: 12 }, () => pair()));
    t.after(() => {
      for (const p of pairs) p.client.destroy();
    });
    const shared = binary(Buffer.from('shared frame, the same Buffer for every stream'), { mask: false });
    const expected: Buffer[][] = [];
    let called = 0;
    // One turn: every stream gets small writes, the shared prepared frame and payloads of random sizes.
    for (let i = 0; i < pairs.length; i++) {
      const ws = pairs[i]!.ws;
      const want: Buffer[] = [];
      for (let k = 0; k < 6; k++) {
        const size = Math.floor(rnd() * (rnd() < 0.3 ? 9000 : 200));
        const payload = Buffer.alloc(size, (i * 7 + k) & 0xff);
        ws.write(payload, { binary: true }, (err) => {
          assert.equal(err, null);
          called++;
        });
        want.push(payload);
        assert.equal(queuePreparedFrame(ws, shared), true);
        want.push(Buffer.from('shared frame, the same Buffer for every stream'));
      }
      expected.push(want);
    }
    for (let i = 0; i < pairs.length; i++) {
      for (const want of expected[i]!) {
        const m = await pairs[i]!.client.nextMessage();
        assert.equal(m.opcode, 2);
        assert.deepEqual(m.payload, want);
      }
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(called, pairs.length * 6, 'every write callback was called');
    for (const p of pairs) assert.equal(p.ws.bufferedAmount, 0);
  });

  it('a stream written to while the others flush gets its bytes too (a tick of its own)', async (t) => {
    const a = await pair();
    const b = await pair();
    t.after(() => {
      a.client.destroy();
      b.client.destroy();
    });
    a.ws.write('first to a', () => {
      // Called on a later tick, after a's batch was written: b is written to from here.
      b.ws.write('to b from a callback');
      assert.equal(queuePreparedFrame(a.ws, text('prepared to a', { mask: false })), true);
    });
    assert.deepEqual(await a.client.nextMessage(), { opcode: 1, payload: Buffer.from('first to a') });
    assert.deepEqual(await a.client.nextMessage(), { opcode: 1, payload: Buffer.from('prepared to a') });
    assert.deepEqual(await b.client.nextMessage(), { opcode: 1, payload: Buffer.from('to b from a callback') });
  });
});

describe('frames nobody waits for', () => {
  it('complete when the socket backs up: bufferedAmount returns to 0, a paused read side resumes, order is kept', async (t) => {
    // A small limit: the frames below pause the stream's reading until the peer has read them.
    const small = await startServer({ maxBufferedBytes: 64 * 1024 });
    t.after(() => small.close());
    const { client, ws } = await pair(small.port, small.next);
    t.after(() => client.destroy());
    client.sock.pause(); // the peer reads nothing for now
    const payloads: Buffer[] = [];
    // Frames until the socket holds some that the kernel did not take (its buffers grow on loopback).
    while (ws.bufferedAmount <= 64 * 1024) {
      const p = Buffer.alloc(128 * 1024, payloads.length);
      payloads.push(p);
      // Each frame in a turn of its own: each goes out as one write that nobody waits for.
      assert.equal(queuePreparedFrame(ws, binary(p, { mask: false })), true);
      await new Promise((r) => setImmediate(r));
    }
    // The socket holds what the kernel did not take: some of those writes were not done at once.
    assert.ok(ws.bufferedAmount > 64 * 1024, `bufferedAmount ${ws.bufferedAmount}`);
    // The peer sends a message, then reads: the stream reads it once its writes drained.
    const read = ws.read();
    client.send(text('hello', { mask: true }));
    client.sock.resume();
    for (const p of payloads) assert.deepEqual(await client.nextMessage(), { opcode: 2, payload: p });
    const m = await read;
    assert.equal(m.data.toString(), 'hello');
    assert.equal(ws.bufferedAmount, 0);
    await ws.write('after');
    assert.deepEqual(await client.nextMessage(), { opcode: 1, payload: Buffer.from('after') });
  });
});

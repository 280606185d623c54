/**
 * The broadcast loop written for ws, `for (const c of wss.clients) if (c.readyState === OPEN) c.send(msg)`: on
 * ws-stream/ws the same data sent to many connections in one turn is copied and framed once, and every connection
 * queues those same bytes (stream/write-queue.ts, `frameOnce`). What each client receives is checked against ws
 * running the same loop: a Buffer changed between the loops (or between two clients) is sent as it was at each
 * call, whatever was sent before; clients with and without permessage-deflate in one loop; clients closed in the
 * middle of a loop. The peers are real ws clients. Then the sharing itself: the memory the loop allocates stays far
 * below one copy per client.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { compat, type Impl, impls, listen, ws } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Ws = any;

/** A message as a short string for an assertion's diff: its type, size and bytes (a digest when long). */
function describeMessage(isBinary: boolean, bytes: Buffer): string {
  const digest = bytes.length <= 16 ? bytes.toString('hex') : createHash('sha256').update(bytes).digest('hex');
  return `${isBinary ? 'binary' : 'text'} ${bytes.length} ${digest}`;
}

/** What a client is sent by `send(data, { binary })`, described as `describeMessage` does, from its bytes now. */
function expected(data: Buffer | string | ArrayBuffer | ArrayBufferView, binary = typeof data !== 'string'): string {
  return describeMessage(binary, copyOf(data));
}

/** The bytes `data` holds now, copied (a string's UTF-8). */
function copyOf(data: Buffer | string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data);
  const view = ArrayBuffer.isView(data)
    ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    : Buffer.from(data);
  return Buffer.from(view);
}

type ResizableArrayBuffer = new (
  length: number,
  options: { maxByteLength: number },
) => ArrayBuffer & { resize(length: number): void };

interface Pair {
  /** The server's side of the connection. */
  server: Ws;
  client: Ws;
  /** The messages the client received, described. */
  got: string[];
}

/**
 * `deflate.length` clients of a server of `impl`, each offering permessage-deflate or not as `deflate` says; the
 * server's sides in the order of `wss.clients` (the order they connected).
 */
async function openClients(
  t: TestContext,
  impl: Impl,
  serverOptions: Record<string, unknown>,
  deflate: boolean[],
): Promise<{ wss: Ws; pairs: Pair[] }> {
  const { wss, port } = await listen(t, impl, serverOptions);
  const pairs: Pair[] = [];
  for (const offer of deflate) {
    const connection = once(wss, 'connection');
    const client = new ws.WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: offer });
    t.after(() => client.terminate());
    const got: string[] = [];
    client.on('message', (data: Buffer, isBinary: boolean) => got.push(describeMessage(isBinary, data)));
    const [server] = await connection;
    if (client.readyState !== client.OPEN) await once(client, 'open');
    assert.equal(client.extensions.includes('permessage-deflate'), offer);
    pairs.push({ server, client, got });
  }
  assert.deepEqual(
    [...wss.clients],
    pairs.map((p) => p.server),
  );
  return { wss, pairs };
}

/** Resolves once `pair`'s client has received `n` messages (at once if it has). */
async function received(pair: Pair, n: number): Promise<void> {
  while (pair.got.length < n) await once(pair.client, 'message');
}

/** ws's loop: every open client of `wss` is sent `data`. */
function broadcast(wss: Ws, data: unknown, options?: object): void {
  for (const c of wss.clients) if (c.readyState === c.OPEN) c.send(data, options);
}

describe('ws-stream/ws: a broadcast loop sends each client the bytes the data held at its call', () => {
  for (const impl of impls) {
    it(`${impl.name}: one Buffer changed between the loops and between two clients, as text, strings, large`, async (t) => {
      const { wss, pairs } = await openClients(t, impl, { perMessageDeflate: false }, [false, false, false, false]);
      const want: string[][] = pairs.map(() => []);
      const all = (data: Buffer | string, binary?: boolean): void => {
        for (const w of want) w.push(expected(data, binary));
      };
      // One turn, as a server's handler runs it.
      const buf = Buffer.alloc(1024, 0x41);
      broadcast(wss, buf);
      all(buf);
      buf.fill(0x42);
      broadcast(wss, buf);
      all(buf);
      // The same Buffer, each client's id written into it before its send.
      pairs.forEach((p, i) => {
        buf[0] = i;
        p.server.send(buf);
        want[i]!.push(expected(buf));
      });
      // The same bytes as text: another message type.
      broadcast(wss, buf, { binary: false });
      all(buf, false);
      // The same bytes again in another Buffer.
      const other = Buffer.from(buf);
      broadcast(wss, other);
      all(other);
      // A string, then an equal one made anew; a Buffer just under 64 KiB, changed at its end between the loops.
      const text = `héllo ${'x'.repeat(500)}`;
      broadcast(wss, text);
      all(text);
      const same = ['héllo ', 'x'.repeat(500)].join('');
      broadcast(wss, same);
      all(same);
      const big = Buffer.alloc(64 * 1024 - 100, 0x07);
      broadcast(wss, big);
      all(big);
      big[big.length - 1] = 0x08;
      broadcast(wss, big);
      all(big);
      // A string whose bytes are over 64 KiB, then the first Buffer again (changed last).
      const large = 'é'.repeat(40_000);
      broadcast(wss, large);
      all(large);
      broadcast(wss, buf);
      all(buf);
      buf.fill(0xee);
      big.fill(0xee);
      other.fill(0xee);
      for (const p of pairs) await received(p, want[0]!.length);
      assert.deepEqual(
        pairs.map((p) => p.got),
        want,
      );
    });

    it(`${impl.name}: a text packet and a binary one per client (engine.io's order), changed between clients and loops`, async (t) => {
      const { pairs } = await openClients(t, impl, { perMessageDeflate: false }, [false, false, false, false, false]);
      const want: string[][] = pairs.map(() => []);
      const send = (i: number, data: Buffer | string | ArrayBuffer | ArrayBufferView): void => {
        pairs[i]!.server.send(data);
        want[i]!.push(describeMessage(typeof data !== 'string', copyOf(data)));
      };
      const first = Buffer.alloc(3000, 0x10);
      const second = Buffer.alloc(700, 0x20);
      const typed = new Uint16Array(600).fill(0x3131);
      const arrayBuffer = new Uint8Array(900).fill(0x41).buffer;
      // Resizable (ES2024, beyond this project's lib): a view made without a length tracks the buffer's.
      const resizable = new (ArrayBuffer as unknown as ResizableArrayBuffer)(800, { maxByteLength: 1600 });
      const tracking = new Uint8Array(resizable).fill(0x51);
      // A header, then its attachments: four messages per client (as many as are shared at once), the Buffers and
      // views changed on the way.
      const loops: (Buffer | ArrayBuffer | ArrayBufferView)[][] = [
        [first, typed, arrayBuffer],
        [second, tracking, first],
      ];
      for (const [loop, attachments] of loops.entries()) {
        pairs.forEach((_, i) => {
          send(i, `451-["x",{"_placeholder":true,"num":${loop}}]`);
          for (const a of attachments) send(i, a);
          if (i === 1) first[0] = 0x11;
          if (i === 2) typed[599] = 0x3232;
          if (i === 2) second.fill(0x21);
          if (i === 3) new Uint8Array(arrayBuffer).fill(0x42, 450);
          // The view tracks its length: 1,600 bytes from now on, its first 800 as they were.
          if (i === 3 && loop === 1) resizable.resize(1600);
        });
        first.fill(0x12);
      }
      first.fill(0xee);
      second.fill(0xee);
      typed.fill(0xeeee);
      new Uint8Array(arrayBuffer).fill(0xee);
      tracking.fill(0xee);
      for (const [i, p] of pairs.entries()) await received(p, want[i]!.length);
      assert.deepEqual(
        pairs.map((p) => p.got),
        want,
      );
    });

    it(`${impl.name}: a view whose getters answer differently at each read is read once per call, as ws reads it`, async (t) => {
      const { wss, pairs } = await openClients(t, impl, { perMessageDeflate: false }, [false, false, false]);
      const view = new Uint8Array(Buffer.from('abcdefgh'));
      // Its own byteOffset: 0, 4, 0, ... at each read (an application's, or a subclass's).
      let reads = 0;
      Object.defineProperty(view, 'byteOffset', { get: () => 4 * (reads++ % 2) });
      Object.defineProperty(view, 'byteLength', { get: () => 4 });
      broadcast(wss, view);
      for (const p of pairs) await received(p, 1);
      assert.equal(reads, pairs.length);
      assert.deepEqual(
        pairs.map((p) => p.got),
        ['abcd', 'efgh', 'abcd'].map((bytes) => [expected(Buffer.from(bytes))]),
      );
    });

    // ws reads a message it compresses (and one sent behind it) only when zlib gets to it: its peers may see the
    // bytes changed after the call (doc/ws-compat.md), so this runs on ws-stream/ws alone.
    for (const serverNoContextTakeover of impl === compat ? [false, true] : []) {
      it(`${impl.name}: clients with and without permessage-deflate in one loop (server context takeover ${!serverNoContextTakeover})`, async (t) => {
        const { wss, pairs } = await openClients(
          t,
          impl,
          { perMessageDeflate: { threshold: 512, serverNoContextTakeover } },
          [true, false, true, false, false, true],
        );
        const want: string[] = [];
        const small = Buffer.alloc(100, 0x31); // under the threshold: not compressed
        const large = Buffer.alloc(4096, 0x32); // compressed for the clients that agreed to it
        broadcast(wss, small);
        want.push(expected(small));
        broadcast(wss, large);
        want.push(expected(large));
        small.fill(0x33);
        broadcast(wss, small);
        want.push(expected(small));
        broadcast(wss, large, { compress: false });
        want.push(expected(large));
        large.fill(0x34, 0, 2048);
        broadcast(wss, large);
        want.push(expected(large));
        const text = 'z'.repeat(3000);
        broadcast(wss, text);
        want.push(expected(text));
        broadcast(wss, small);
        want.push(expected(small));
        small.fill(0xee);
        large.fill(0xee);
        for (const p of pairs) await received(p, want.length);
        assert.deepEqual(
          pairs.map((p) => p.got),
          pairs.map(() => want),
        );
      });
    }

    it(`${impl.name}: clients closed in the middle of a loop; the others get every message`, async (t) => {
      const { wss, pairs } = await openClients(t, impl, { perMessageDeflate: false }, [
        false,
        false,
        false,
        false,
        false,
        false,
      ]);
      const closes = pairs.map((p) => once(p.client, 'close').then(([code]) => code as number));
      const answers: string[][] = pairs.map(() => []);
      const buf = Buffer.alloc(2000, 0x51);
      const first = expected(buf);
      let i = 0;
      for (const c of wss.clients) {
        // Client 4 is terminated before its turn, client 1 closed after its send, client 0 terminated after its send.
        if (i === 2) pairs[4]!.server.terminate();
        if (i === 3) pairs[1]!.server.close(1000);
        if (i === 5) pairs[0]!.server.terminate();
        const n = i;
        if (c.readyState === c.OPEN) c.send(buf, (err?: Error) => answers[n]!.push(err ? 'error' : 'ok'));
        i++;
      }
      buf.fill(0x52);
      broadcast(wss, buf);
      const second = expected(buf);
      buf.fill(0xee);
      for (const n of [2, 3, 5]) await received(pairs[n]!, 2);
      assert.deepEqual(
        [2, 3, 5].map((n) => pairs[n]!.got),
        [
          [first, second],
          [first, second],
          [first, second],
        ],
      );
      assert.deepEqual(await closes[1], 1000);
      assert.deepEqual(pairs[1]!.got, [first]);
      assert.deepEqual(await closes[4], 1006);
      assert.deepEqual(pairs[4]!.got, []);
      assert.deepEqual(await closes[0], 1006);
      // Every send of the first loop was answered once; those still open were written.
      for (const n of [2, 3, 5]) {
        pairs[n]!.server.close();
        await closes[n];
      }
      assert.deepEqual(
        [1, 2, 3, 5].map((n) => answers[n]),
        [['ok'], ['ok'], ['ok'], ['ok']],
      );
      assert.equal(answers[0]!.length, 1);
      assert.deepEqual(answers[4], []);
    });
  }
});

describe('ws-stream/ws: a broadcast loop copies and frames its data once, not once per client', () => {
  const CLIENTS = 32;
  const SIZE = 60 * 1024;
  const cases: {
    name: string;
    data: () => Buffer | string | ArrayBuffer | ArrayBufferView;
    size: number;
    header?: string;
  }[] = [
    { name: 'a Buffer of 60 KiB', data: () => Buffer.alloc(SIZE, 0x61), size: SIZE },
    { name: 'a string of 60 KiB', data: () => 'b'.repeat(SIZE), size: SIZE },
    { name: 'a string of 200 KiB', data: () => 'c'.repeat(200 * 1024), size: 200 * 1024 },
    { name: 'a Uint8Array of 60 KiB', data: () => new Uint8Array(SIZE).fill(0x64), size: SIZE },
    { name: 'a Float64Array of 60 KiB', data: () => new Float64Array(SIZE / 8).fill(1.5), size: SIZE },
    { name: 'an ArrayBuffer of 60 KiB', data: () => new Uint8Array(SIZE).fill(0x65).buffer, size: SIZE },
    // engine.io sends each socket a text packet, then the binary attachment: two messages remembered at once.
    {
      name: 'a Buffer of 60 KiB behind a text packet per client',
      data: () => Buffer.alloc(SIZE, 0x66),
      size: SIZE,
      header: '451-["x",{"_placeholder":true,"num":0}]',
    },
  ];
  for (const c of cases) {
    it(`${c.name} to ${CLIENTS} clients: the loop allocates far less than a copy per client`, async (t) => {
      const { wss, pairs } = await openClients(t, compat, { perMessageDeflate: false }, Array(CLIENTS).fill(false));
      const data = c.data();
      const header = c.header;
      // Every ArrayBuffer the loop makes (a copy, a frame, the slabs they are built into) is counted here, as it is
      // made in the loop's turn; one copy per client would be CLIENTS × size.
      const before = process.memoryUsage().arrayBuffers;
      for (const client of wss.clients) {
        // A new string each time, as engine.io makes it: equal, not the same object.
        if (header !== undefined) client.send(header.slice(0, 1) + header.slice(1));
        client.send(data);
      }
      const grew = process.memoryUsage().arrayBuffers - before;
      // One copy, and the slab it may be built into (256 KiB): well under CLIENTS / 4 copies.
      assert.ok(
        grew < (CLIENTS / 4) * c.size,
        `the loop allocated ${grew} bytes for ${CLIENTS} clients of ${c.size} bytes`,
      );
      const want = header === undefined ? [expected(data)] : [expected(header), expected(data)];
      for (const p of pairs) await received(p, want.length);
      assert.deepEqual(
        pairs.map((p) => p.got),
        pairs.map(() => want),
      );
    });
  }
});

/**
 * `send()` and `ping()` send the bytes their data holds at the call, as ws does: code written for ws reuses one
 * Buffer (a loop that writes each client's id into it before each send, a pooled Buffer returned after the send, a
 * TypedArray view over a reused ArrayBuffer, a slab carved again) and changes it right after the call, in the same
 * turn. ws writes an uncompressed frame to the socket at once (a client masks it into a copy); ws-stream/ws used to
 * read the data when the turn's frames were written, and sent the last bytes in it. Each case runs on both roles,
 * the peer a real ws endpoint, and checks what the peer received against the bytes at each call.
 *
 * With permessage-deflate ws reads a message it compresses only when zlib gets to it (and one sent behind a message
 * being compressed only once that one is done), so its peer may see the changed bytes: those cases run on
 * ws-stream/ws alone, which copies what it cannot send at once (doc/ws-compat.md).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { readRequest, WebSocketStream } from '../../src/index.js';
import { duplexPair } from '../support/duplex-layer.js';
import { compat, impls, type Impl, listen, ws } from './support.js';

// biome-ignore lint/suspicious/noExplicitAny: ws's API on both engines
type Ws = any;

type Kind = 'binary' | 'text' | 'ping';
/** What a case expects the peer to receive: each message (or ping) with its bytes as they were at the call. */
type Expected = [Kind, Buffer][];

/** A received message or ping, short enough for an assertion's diff. */
function describeBytes(kind: Kind, bytes: Buffer): string {
  const digest = bytes.length <= 32 ? bytes.toString('hex') : createHash('sha256').update(bytes).digest('hex');
  return `${kind} ${bytes.length} ${digest}`;
}

/** A copy of the bytes `data` holds now. */
function snapshot(data: ArrayBufferView | ArrayBuffer): Buffer {
  return ArrayBuffer.isView(data)
    ? Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    : Buffer.from(new Uint8Array(data));
}

/** An open pair: `sender` of `impl` in `role`, its peer a real ws endpoint; permessage-deflate offered and accepted or neither. */
async function openPair(
  t: TestContext,
  impl: Impl,
  role: 'server' | 'client',
  deflate: boolean,
): Promise<{ sender: Ws; peer: Ws }> {
  const { wss, port } = await listen(t, role === 'server' ? impl : ws, { perMessageDeflate: deflate });
  const connection = once(wss, 'connection');
  const Client = role === 'server' ? ws.WebSocket : impl.WebSocket;
  const client = new Client(`ws://127.0.0.1:${port}`, { perMessageDeflate: deflate });
  t.after(() => client.terminate());
  const [server] = await connection;
  if (client.readyState !== client.OPEN) await once(client, 'open');
  const [sender, peer] = role === 'server' ? [server, client] : [client, server];
  assert.equal(sender.extensions.includes('permessage-deflate'), deflate);
  return { sender, peer };
}

/** The peer's next `n` messages and pings, in order. */
function receive(peer: Ws, n: number): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve) => {
    const add = (kind: Kind, data: Buffer): void => {
      got.push(describeBytes(kind, data));
      if (got.length === n) resolve(got);
    };
    peer.on('message', (data: Buffer, isBinary: boolean) => add(isBinary ? 'binary' : 'text', data));
    peer.on('ping', (data: Buffer) => add('ping', data));
  });
}

interface Case {
  name: string;
  /** Makes the calls on `sender` in one turn, changing the data after each; returns what the peer must receive. */
  run(sender: Ws): Expected;
}

const cases: Case[] = [
  {
    name: 'a Buffer written again before each send (binary)',
    run(s) {
      const buf = Buffer.alloc(8);
      const want: Expected = [];
      for (let id = 1; id <= 3; id++) {
        buf.writeUInt32LE(id, 0);
        buf.writeUInt32BE(0xc0de0000 + id, 4);
        s.send(buf);
        want.push(['binary', snapshot(buf)]);
      }
      buf.fill(0xee);
      return want;
    },
  },
  {
    name: 'a Buffer written again before each send, as text',
    run(s) {
      const buf = Buffer.from('message #0');
      const want: Expected = [];
      for (let i = 1; i <= 3; i++) {
        buf[9] = 0x30 + i;
        s.send(buf, { binary: false });
        want.push(['text', snapshot(buf)]);
      }
      buf.fill(0x7e); // '~'
      return want;
    },
  },
  {
    name: 'a Uint16Array view at an offset into a reused ArrayBuffer',
    run(s) {
      const memory = new ArrayBuffer(16);
      const view = new Uint16Array(memory, 4, 3);
      const want: Expected = [];
      for (let i = 1; i <= 3; i++) {
        view.fill(0x0101 * i);
        view[2] = 0xab00 + i;
        s.send(view);
        want.push(['binary', snapshot(view)]);
      }
      new Uint8Array(memory).fill(0xee);
      return want;
    },
  },
  {
    name: 'a DataView over a reused ArrayBuffer',
    run(s) {
      const memory = new ArrayBuffer(12);
      const view = new DataView(memory, 2, 8);
      const want: Expected = [];
      for (let i = 1; i <= 3; i++) {
        view.setUint32(0, 0x11223300 + i);
        view.setFloat32(4, i / 4);
        s.send(view);
        want.push(['binary', snapshot(view)]);
      }
      new Uint8Array(memory).fill(0xee);
      return want;
    },
  },
  {
    name: 'an ArrayBuffer written again before each send',
    run(s) {
      const memory = new ArrayBuffer(6);
      const bytes = new Uint8Array(memory);
      const want: Expected = [];
      for (let i = 1; i <= 3; i++) {
        bytes.fill(i);
        bytes[0] = 0xa0 + i;
        s.send(memory);
        want.push(['binary', snapshot(memory)]);
      }
      bytes.fill(0xee);
      return want;
    },
  },
  {
    name: 'a pooled Buffer returned to its pool after each send, and a slab carved again from its start',
    run(s) {
      const pool = [Buffer.alloc(24)];
      const slab = Buffer.allocUnsafe(64);
      const want: Expected = [];
      for (let i = 1; i <= 3; i++) {
        const pooled = pool.pop()!;
        pooled.fill(i);
        pooled.write(`pooled #${i}`);
        s.send(pooled);
        want.push(['binary', snapshot(pooled)]);
        pool.push(pooled);
        const carved = slab.subarray(0, 10 + i); // the slab's offset goes back to 0 once the message is "sent"
        carved.fill(0x40 + i);
        s.send(carved, { binary: false });
        want.push(['text', snapshot(carved)]);
      }
      pool[0]!.fill(0xee);
      slab.fill(0x7e);
      return want;
    },
  },
  {
    name: 'a 20 KiB Buffer sent four times (the turn holds over 64 KiB of frames)',
    run(s) {
      const buf = Buffer.alloc(20 * 1024);
      const want: Expected = [];
      for (let i = 1; i <= 4; i++) {
        buf.fill(i);
        buf.writeUInt32BE(i, 100);
        s.send(buf);
        want.push(['binary', snapshot(buf)]);
      }
      buf.fill(0xee);
      return want;
    },
  },
  {
    name: 'a 100 KiB Buffer sent three times (each frame over 64 KiB), then as both parts of one message',
    run(s) {
      const buf = Buffer.alloc(100 * 1024);
      const want: Expected = [];
      for (let i = 1; i <= 3; i++) {
        buf.fill(0x10 * i);
        buf.writeUInt32BE(i, 50_000);
        s.send(buf);
        want.push(['binary', snapshot(buf)]);
      }
      const parts: Buffer[] = [];
      for (let i = 1; i <= 2; i++) {
        buf.fill(0x40 + i);
        s.send(buf, { fin: i === 2 });
        parts.push(snapshot(buf));
      }
      want.push(['binary', Buffer.concat(parts)]);
      buf.fill(0xee);
      return want;
    },
  },
  {
    name: 'fragments: send(…, { fin: false }) with the Buffer changed between the parts',
    run(s) {
      const buf = Buffer.alloc(6);
      const parts: Buffer[] = [];
      for (let i = 1; i <= 3; i++) {
        buf.fill(0x60 + i);
        buf[0] = i;
        s.send(buf, { fin: i === 3 });
        parts.push(snapshot(buf));
      }
      buf.fill(0xee);
      const text = Buffer.from('part 1');
      const textParts: Buffer[] = [];
      for (let i = 1; i <= 2; i++) {
        text[5] = 0x30 + i;
        s.send(text, { binary: false, fin: i === 2 });
        textParts.push(snapshot(text));
      }
      text.fill(0x7e);
      return [
        ['binary', Buffer.concat(parts)],
        ['text', Buffer.concat(textParts)],
      ];
    },
  },
  {
    name: "a ping's payload written again before each ping, behind a message (compressed, with permessage-deflate)",
    run(s) {
      const buf = Buffer.alloc(5, 0x55);
      s.send(buf);
      const want: Expected = [['binary', snapshot(buf)]];
      for (let i = 1; i <= 3; i++) {
        buf.fill(i);
        buf.writeUInt16BE(0xbe00 + i, 1);
        s.ping(buf);
        want.push(['ping', snapshot(buf)]);
      }
      buf.fill(0xee);
      return want;
    },
  },
];

// ws sends the bytes at the call where it writes at once: without permessage-deflate (see the header).
const runs: { impl: Impl; deflate: boolean }[] = [
  ...impls.map((impl) => ({ impl, deflate: false })),
  { impl: compat, deflate: true },
];

describe('send() and ping() with data changed after the call, in the same turn: the peer gets the bytes at the call', () => {
  for (const c of cases) {
    it(c.name, async (t) => {
      for (const { impl, deflate } of runs) {
        for (const role of ['server', 'client'] as const) {
          // Both engines hand a frame to the socket at the call by reference (ws every frame, ws-stream/ws one over
          // 64 KiB or one behind bytes the socket still holds): the bytes at the call are what goes out only where
          // the kernel took them within the call. A socket still holding bytes after the calls (a loaded machine)
          // is not what a case checks: the case runs again on a new pair, at most 5 times; the last is asserted.
          let sender: Ws;
          let peer: Ws;
          let want: Expected;
          let got: Promise<string[]>;
          for (let attempt = 1; ; attempt++) {
            ({ sender, peer } = await openPair(t, impl, role, deflate));
            // The peer's listeners are added in the same turn as the calls: nothing arrives before the turn ends.
            want = c.run(sender);
            got = receive(peer, want.length);
            if (sender._socket.writableLength === 0 || attempt === 5) break;
            sender.terminate();
          }
          assert.deepEqual(
            await got,
            want.map(([kind, bytes]) => describeBytes(kind, bytes)),
            `${impl.name}, ${role}${deflate ? ', permessage-deflate' : ''}`,
          );
        }
      }
    });
  }
});

// A createWebSocketStream Duplex's chunk is the Duplex's until its write callback (Node's Writable holds chunks it
// buffers by reference): with permessage-deflate ws reads one sent behind a message being compressed only once that
// one is done, and ws-stream/ws takes it as it is too, no copy, so a change made before the callback goes out on both.
describe('createWebSocketStream with permessage-deflate: a chunk behind a message being compressed is read in its turn, as ws reads it (not copied)', () => {
  it('the peer gets the bytes the chunk holds when its turn comes', async (t) => {
    for (const impl of impls) {
      for (const role of ['server', 'client'] as const) {
        const { sender, peer } = await openPair(t, impl, role, true);
        const duplex = impl.createWebSocketStream(sender);
        const first = 'compressible text '.repeat(4096);
        sender.send(first);
        const chunk = Buffer.alloc(2000, 0x41);
        duplex.write(chunk);
        chunk.fill(0x42);
        const got = await receive(peer, 2);
        assert.deepEqual(
          got,
          [describeBytes('text', Buffer.from(first)), describeBytes('binary', Buffer.alloc(2000, 0x42))],
          `${impl.name}, ${role}`,
        );
      }
    }
  });
});

// Over a pair that delivers to its peer within the write (fastify's injectWS's), a chunk too large to copy (and under
// `threshold`: uncompressed) reaches the peer inside the Duplex's write: a send the peer's callback makes there is its
// caller's data, copied to wait for zlib as any other (the chunk's "not copied" is for the chunk's own write alone).
describe('createWebSocketStream over a pair that delivers within the write: a send made inside the delivery of a chunk', () => {
  it('sends the bytes its data held at the call', async (t) => {
    const [serverSide, clientSide] = duplexPair();
    t.after(() => {
      serverSide.destroy();
      clientSide.destroy();
    });
    const peer = new WebSocketStream(clientSide, { perMessageDeflate: true });
    const handshake = peer.handshake({ host: 'example.com', target: '/' });
    const { request, head } = await readRequest(serverSide);
    const wss = new compat.WebSocketServer({
      noServer: true,
      perMessageDeflate: { serverNoContextTakeover: true, threshold: 128 * 1024 },
    });
    t.after(() => wss.close());
    const upgrade = { ...request, url: request.target } as unknown as IncomingMessage;
    const sender: Ws = await new Promise((resolve) => wss.handleUpgrade(upgrade, serverSide, head, resolve));
    await handshake;
    const chunk = Buffer.alloc(70_000, 0x43); // over the 64 KiB copied at the call: written to the layer at once
    const reused = Buffer.alloc(200_000, 0x41); // over the threshold: compressed, so it waits for zlib
    const atCall = Buffer.from(reused);
    let writing = false;
    let readWithinWrite = false;
    const got = new Promise<string[]>((resolve, reject) => {
      peer.read((err, first) => {
        if (err) return reject(err);
        readWithinWrite = writing;
        sender.send(reused);
        reused.fill(0x42);
        peer.read((err2, second) =>
          err2 ? reject(err2) : resolve([describeBytes('binary', first!.data), describeBytes('binary', second!.data)]),
        );
      });
    });
    const duplex = compat.createWebSocketStream(sender);
    writing = true;
    duplex.write(chunk);
    writing = false;
    assert.deepEqual(await got, [describeBytes('binary', chunk), describeBytes('binary', atCall)]);
    assert.equal(readWithinWrite, true, "the peer's callback ran inside the Duplex's write");
  });
});

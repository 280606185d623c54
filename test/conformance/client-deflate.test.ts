/**
 * permessage-deflate in the client role, to the letter of RFC 7692 §6, §7.1.1–7.1.2 and §7.2,
 * against a raw TCP server: the RFC's own example frames of §7.2.3 are read as "Hello"; RSV1 where
 * §6 forbids it and data that does not inflate fail the connection with the code on the wire; the
 * client's compressed frames are checked byte by byte (RSV1 on the first frame only, the 00 00 ff ff
 * tail removed, no context takeover and the window size when the server's response asks for them).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { type ConnectOptions, type WebSocketStream, connect } from '../../src/index.js';
import type { WireFrame } from '../support/frames.js';
import { TRAILER as TAIL, inflateMessage as inflate } from '../support/deflate-sender.js';
import { random } from '../support/random.js';
import { type RawPeer, type RawServer, codeOf, rawServer, sclose, sframe } from './raw-server.js';

/** connect() with permessage-deflate; the server answers with `extension` and then `after`, in one write. */
async function open(
  server: RawServer,
  extension: string,
  after: Buffer[] = [],
  options: ConnectOptions = {},
): Promise<{ ws: WebSocketStream; peer: RawPeer }> {
  const pending = connect(server.url(), { handshakeTimeout: 20_000, perMessageDeflate: true, ...options });
  const peer = await server.next();
  peer.write(peer.ok(`Sec-WebSocket-Extensions: ${extension}\r\n`), ...after);
  return { ws: await pending, peer };
}

async function readAll(ws: WebSocketStream): Promise<{ got: string[]; end: string }> {
  const got: string[] = [];
  try {
    for await (const m of ws) got.push(m.text());
    return { got, end: 'ERR_WS_CLOSED' };
  } catch (e) {
    return { got, end: (e as { code: string }).code };
  }
}

const raw = (...bytes: number[]): Buffer => Buffer.from(bytes);

describe('RFC 7692 §7.2.3, client role: the examples of the RFC', { timeout: 60_000 }, () => {
  it('each is read as "Hello", in one stream with context takeover; an uncompressed message among them too (§6)', async (t) => {
    const server = await rawServer(t);
    const { ws, peer } = await open(server, 'permessage-deflate', [
      // §7.2.3.1: one DEFLATE block, unfragmented and fragmented
      raw(0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00),
      raw(0x41, 0x03, 0xf2, 0x48, 0xcd),
      raw(0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00),
      // §7.2.3.2: the second "Hello", a reference into the sliding window the first ones left
      raw(0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00),
      // §6: RSV1 clear: not compressed
      raw(0x81, 0x05, ...Buffer.from('plain')),
      // §7.2.3.3: a block with no compression
      raw(0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00),
      // §7.2.3.4: BFINAL set (the peer's DEFLATE stream ends; the next message starts a new one)
      raw(0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00),
      // §7.2.3.5: two DEFLATE blocks in one message
      raw(0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00),
      sclose(1000),
    ]);
    assert.equal(ws.extensions, 'permessage-deflate');
    const r = await readAll(ws);
    assert.deepEqual(r, { got: ['Hello', 'Hello', 'Hello', 'plain', 'Hello', 'Hello', 'Hello'], end: 'ERR_WS_CLOSED' });
    await peer.frameCount(1);
    peer.end();
    assert.equal((await ws.whenClosed()).wasClean, true);
  });
});

describe('RFC 7692 §7.2.2, client role: empty payloads', { timeout: 60_000 }, () => {
  it('an empty compressed message (0x00), an empty last fragment, a fragment boundary inside the flush block', async (t) => {
    const server = await rawServer(t);
    const { ws, peer } = await open(server, 'permessage-deflate', [
      raw(0xc1, 0x01, 0x00), // the empty message as DEFLATE sends it: an empty stored block, its tail removed
      raw(0x41, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00),
      raw(0x80, 0x00), // an empty last fragment
      raw(0x41, 0x05, 0xf2, 0x48, 0xcd, 0xc9, 0xc9),
      raw(0x00, 0x01, 0x07),
      raw(0x80, 0x01, 0x00),
      raw(0xc1, 0x02, 0x02, 0x00), // an empty fixed-Huffman block: an empty message too
      sclose(1000),
    ]);
    const r = await readAll(ws);
    assert.deepEqual(r, { got: ['', 'Hello', 'Hello', ''], end: 'ERR_WS_CLOSED' });
    await peer.frameCount(1);
    peer.end();
    await ws.whenClosed();
  });
});

/** [name, frames after the 101 (permessage-deflate agreed), the client's close code, the reader's error]. */
const violations: [string, Buffer[], number, string][] = [
  // §6: "An endpoint MUST NOT set the Per-Message Compressed bit of control frames and non-first fragments".
  [
    'RSV1 on a continuation frame',
    [raw(0x41, 0x03, 0xf2, 0x48, 0xcd), raw(0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00)],
    1002,
    'ERR_WS_BAD_RESERVED_BITS',
  ],
  ['RSV1 on a ping (a compressed control frame)', [raw(0xc9, 0x00)], 1002, 'ERR_WS_BAD_RESERVED_BITS'],
  ['RSV1 on a pong', [raw(0xca, 0x00)], 1002, 'ERR_WS_BAD_RESERVED_BITS'],
  ['RSV1 on a close', [raw(0xc8, 0x02, 0x03, 0xe8)], 1002, 'ERR_WS_BAD_RESERVED_BITS'],
  ['RSV2 (permessage-deflate defines only RSV1)', [raw(0xa1, 0x01, 0x61)], 1002, 'ERR_WS_BAD_RESERVED_BITS'],
  // §6.2 / §8: data that does not inflate, and text that inflates to something not UTF-8.
  ['data that is no DEFLATE (a reserved block type)', [raw(0xc1, 0x02, 0xff, 0xff)], 1007, 'ERR_WS_BAD_FRAME_PAYLOAD'],
  [
    'text that inflates to 0xff',
    [
      sframe({
        opcode: 1,
        rsv: 4,
        payload: zlib.deflateRawSync(raw(0xff), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4),
      }),
    ],
    1007,
    'ERR_WS_BAD_FRAME_PAYLOAD',
  ],
];

describe('RFC 7692 §6, client role: a violation under permessage-deflate', { timeout: 60_000 }, () => {
  it('each: one masked close frame with its code, nothing after it; the reader gets the error', async (t) => {
    const server = await rawServer(t);
    for (const [name, bytes, code, error] of violations) {
      const { ws, peer } = await open(server, 'permessage-deflate', bytes);
      const r = await readAll(ws);
      assert.deepEqual(r, { got: [], end: error }, name);
      await peer.clientDone();
      assert.deepEqual(
        peer.frames.map((f) => [f.opcode, f.rsv, f.masked, codeOf(f)]),
        [[8, 0, true, code]],
        name,
      );
      peer.end();
      const info = await ws.whenClosed();
      assert.deepEqual([info.code, info.wasClean], [code, false], name);
    }
  });
});

describe('RFC 7692 §7.1–7.2, client role: what the client sends', { timeout: 60_000 }, () => {
  const text = 'Hello, permessage-deflate! '.repeat(40);

  it('§7.2.1: RSV1 on a compressed message, the tail removed; context taken over (§7.1.1.2); control frames not compressed', async (t) => {
    const server = await rawServer(t);
    const { ws, peer } = await open(server, 'permessage-deflate', [], { perMessageDeflate: { threshold: 0 } });
    await ws.write(text);
    await ws.write(text);
    await ws.ping('p');
    const frames = await peer.frameCount(3);
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.fin, f.rsv, f.masked]),
      [
        [1, true, 4, true],
        [1, true, 4, true],
        [9, true, 0, true],
      ],
    );
    const [a, b] = frames as [WireFrame, WireFrame];
    assert.notDeepEqual(a.payload.subarray(-4), TAIL);
    // One inflater for both (context takeover): the second refers to the first, so it is shorter.
    const inflater = zlib.createInflateRaw();
    const out: Buffer[] = [];
    inflater.on('data', (d: Buffer) => out.push(d));
    inflater.write(Buffer.concat([a.payload, TAIL, b.payload, TAIL]));
    await new Promise<void>((r) => inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    assert.equal(Buffer.concat(out).toString(), text + text);
    assert.ok(b.payload.length < a.payload.length / 2, `${b.payload.length} vs ${a.payload.length}`);
    peer.write(sclose(1000));
    peer.end();
    await ws.whenClosed();
  });

  it('an empty message compressed: a payload that keeps the peer inflater whole (the next message inflates)', async (t) => {
    const server = await rawServer(t);
    const { ws, peer } = await open(server, 'permessage-deflate', [], { perMessageDeflate: { threshold: 0 } });
    await ws.write('');
    await ws.write('after the empty one');
    const frames = await peer.frameCount(2);
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.rsv]),
      [
        [1, 4],
        [1, 4],
      ],
    );
    const inflater = zlib.createInflateRaw();
    const out: Buffer[] = [];
    inflater.on('data', (d: Buffer) => out.push(d));
    for (const f of frames) {
      inflater.write(Buffer.concat([f.payload, TAIL]));
      await new Promise<void>((r) => inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    }
    assert.equal(Buffer.concat(out).toString(), 'after the empty one');
    peer.write(sclose(1000));
    peer.end();
    await ws.whenClosed();
  });

  it('§6.1: a fragmented compressed message has RSV1 on its first frame only', async (t) => {
    const server = await rawServer(t);
    const { ws, peer } = await open(server, 'permessage-deflate', [], {
      perMessageDeflate: { threshold: 0 },
      autoFragment: true,
      fragmentSize: 16,
    });
    await ws.write(Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 31) & 0xff)), { binary: true });
    await ws.writeSome('first part ', { fin: false });
    await ws.writeSome('second part', { fin: true });
    const close = ws.close({ code: 1000 });
    await peer.until(() => peer.frames.at(-1)?.opcode === 8, 'the close');
    const frames = peer.frames;
    const messages: WireFrame[][] = [];
    for (const f of frames.slice(0, -1)) {
      if (f.opcode !== 0) messages.push([]);
      messages.at(-1)!.push(f);
    }
    assert.equal(messages.length, 2);
    for (const m of messages) {
      assert.ok(m.length > 1);
      assert.deepEqual(
        m.map((f) => [f.rsv, f.fin]),
        m.map((_, i) => [i === 0 ? 4 : 0, i === m.length - 1]),
      );
    }
    peer.write(sclose(1000));
    peer.end();
    await close;
  });

  it('§7.1.1.2: client_no_context_takeover in the response: each message starts from an empty window', async (t) => {
    const server = await rawServer(t);
    const { ws, peer } = await open(server, 'permessage-deflate; client_no_context_takeover', [], {
      perMessageDeflate: { threshold: 0 },
    });
    await ws.write(text);
    await ws.write(text);
    const [a, b] = (await peer.frameCount(2)) as [WireFrame, WireFrame];
    assert.deepEqual(b.payload, a.payload);
    // Each inflates on its own, with a fresh inflater.
    assert.equal(inflate(b.payload).toString(), text);
    peer.write(sclose(1000));
    peer.end();
    await ws.whenClosed();
  });

  it('§7.1.2.2: client_max_window_bits=8 or 9 in the response: no back reference reaches past 256 or 512 octets', async (t) => {
    const server = await rawServer(t);
    // 1,000 random octets twice: a 32 KiB window would copy the second from the first, 1,000 back.
    const next = random(7692); // a fixed seed: incompressible on its own, any block does
    const block = Buffer.from(Array.from({ length: 1000 }, () => Math.floor(next() * 256)));
    const data = Buffer.concat([block, block]);
    // What the check below catches: a compressor with the whole window.
    const wide = zlib.deflateRawSync(data, { level: 1, finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    for (const bits of [8, 9]) {
      assert.throws(() => inflate(wide, bits), /distance too far back/);
      // zlib has no raw 8-bit window and compresses with 9 bits, whose matches reach 250 octets back
      // at most (the window less its 262-octet lookahead): within the 256 the server allowed.
      const { ws, peer } = await open(server, `permessage-deflate; client_max_window_bits=${bits}`, [], {
        perMessageDeflate: { threshold: 0 },
      });
      await ws.write(data, { binary: true });
      const [f] = (await peer.frameCount(1)) as [WireFrame];
      assert.equal(f.rsv, 4);
      assert.deepEqual(inflate(f.payload, bits), data, `${bits} bits`);
      peer.write(sclose(1000));
      peer.end();
      await ws.whenClosed();
    }
  });
});

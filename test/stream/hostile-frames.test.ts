/**
 * Hostile frames over real sockets, in both roles: every reserved bit and opcode, bad control
 * frames, bad close payloads, UTF-8 that breaks only at the end, bad lengths, fragmentation
 * errors, the wrong mask bit, and permessage-deflate abuse (RSV1 where it may not be, bad deflate
 * data, a decompression bomb). Each must fail the connection with the RFC 6455 close code on the
 * wire, before the connection ends, and reach the reader as its WebSocketError code. The server
 * role is compared with what `ws` 8 sends for the same bytes (the RFC decides where they differ).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { WebSocketServer } from 'ws';
import { WebSocketStream, connect } from '../../src/index.js';
import { binary, closeFrame, cont, frame, parseFrames, ping, requestHead, text } from '../support/frames.js';
import { attack, closeCodeOf, fakeServer, httpServer, netServer, response101 } from '../support/hostile.js';

const hs = (over: Record<string, string | null> = {}): string => requestHead(over, 'GET / HTTP/1.1');
const DEFLATE = { 'Sec-WebSocket-Extensions': 'permessage-deflate' };

/** A message compressed as permessage-deflate sends it (RFC 7692 §7.2.1: the empty block's tail removed). */
function deflated(data: Buffer): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** [name, frames (client role: masked), close code, error code, ws's close code where it differs]. */
type Case = [string, (masked: boolean) => Buffer[], number, string, number?];
const m = (masked: boolean) => ({ mask: masked });
const cases: Case[] = [
  ['RSV1 without an extension', (k) => [text('a', { rsv: 4, ...m(k) })], 1002, 'ERR_WS_BAD_RESERVED_BITS'],
  ['RSV2', (k) => [text('a', { rsv: 2, ...m(k) })], 1002, 'ERR_WS_BAD_RESERVED_BITS'],
  ['RSV3', (k) => [text('a', { rsv: 1, ...m(k) })], 1002, 'ERR_WS_BAD_RESERVED_BITS'],
  ...[3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map(
    (op): Case => [
      `reserved opcode ${op}`,
      (k) => [frame({ opcode: op, payload: 'x', ...m(k) })],
      1002,
      'ERR_WS_BAD_OPCODE',
    ],
  ),
  ['a ping of 126 bytes', (k) => [ping(Buffer.alloc(126), m(k))], 1002, 'ERR_WS_BAD_CONTROL_SIZE'],
  ['a fragmented ping', (k) => [ping('a', { fin: false, ...m(k) })], 1002, 'ERR_WS_BAD_CONTROL_FRAGMENT'],
  [
    'a close with 1 byte',
    (k) => [frame({ opcode: 8, payload: Buffer.from([3]), ...m(k) })],
    1002,
    'ERR_WS_BAD_CLOSE_SIZE',
  ],
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map(
    (code): Case => [`close code ${code}`, (k) => [closeFrame(code, '', m(k))], 1002, 'ERR_WS_BAD_CLOSE_CODE'],
  ),
  ['a close reason not UTF-8', (k) => [closeFrame(1000, Buffer.from([0xff]), m(k))], 1007, 'ERR_WS_BAD_CLOSE_PAYLOAD'],
  [
    'text whose last character is cut at FIN (only detectable at the end)',
    (k) => [text(Buffer.from([0x61, 0xe2]), { fin: false, ...m(k) }), cont(Buffer.from([0x82]), m(k))],
    1007,
    'ERR_WS_BAD_FRAME_PAYLOAD',
  ],
  [
    'text invalid across fragments',
    (k) => [text(Buffer.from([0x61, 0xed]), { fin: false, ...m(k) }), cont(Buffer.from([0xa0, 0x80]), m(k))],
    1007,
    'ERR_WS_BAD_FRAME_PAYLOAD',
  ],
  [
    'a 64-bit length with the top bit set',
    (k) => [Buffer.from([0x82, k ? 0xff : 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1, ...(k ? [1, 2, 3, 4] : [])])],
    1002,
    'ERR_WS_BAD_SIZE',
    1009, // ws: "payload length > 2^53 - 1"; RFC 6455 §5.2 makes the top bit a framing error
  ],
  // Lengths from 2^53 to 2^63 − 1 are legal (RFC 6455 §5.2) and over every limit: 1009, as ws sends, not 1002.
  ...(
    [
      ['2^63 − 1', [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
      ['2^53', [0x00, 0x20, 0, 0, 0, 0, 0, 0]],
    ] as const
  ).map(
    ([n, len]): Case => [
      `a 64-bit length of ${n}`,
      (k) => [Buffer.from([0x82, k ? 0xff : 0x7f, ...len, ...(k ? [1, 2, 3, 4] : [])])],
      1009,
      'ERR_WS_MESSAGE_TOO_BIG',
    ],
  ),
  [
    'a ping announcing 2^63 − 1 bytes',
    (k) => [
      Buffer.from([0x89, k ? 0xff : 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...(k ? [1, 2, 3, 4] : [])]),
    ],
    1002,
    'ERR_WS_BAD_CONTROL_SIZE',
  ],
  [
    'a 16-bit length that fits in 7 bits',
    (k) => [text('a', { lengthForm: 16, ...m(k) })],
    1002,
    'ERR_WS_BAD_SIZE',
    1000,
  ],
  ['a continuation without a message', (k) => [cont('x', m(k))], 1002, 'ERR_WS_BAD_CONTINUATION'],
  [
    'a text frame inside a fragmented message',
    (k) => [text('a', { fin: false, ...m(k) }), text('b', m(k))],
    1002,
    'ERR_WS_BAD_DATA_FRAME',
  ],
];

/** The server role's answer: its frames, then the close; `rest` are bytes after the 101 that were no frame. */
async function serverAnswer(port: number, chunks: Buffer[], over: Record<string, string> = {}, untilClose = false) {
  const ex = await attack(port, [hs(over), ...chunks], { untilClose });
  assert.equal(ex.status, 101);
  return ex.frames;
}

describe('server role: each violation closes with its code, then the connection ends', { timeout: 120_000 }, () => {
  it('net + accept() and node:http + accept(req, { head }); `ws` 8 for the same bytes', async (t) => {
    const fronts = [await netServer(t), await httpServer(t)];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (c) => c.on('error', () => {}));
    await once(wss, 'listening');
    t.after(() => wss.close());
    const wsPort = (wss.address() as net.AddressInfo).port;
    for (const [name, bytes, code, error, wsCode] of cases) {
      for (const front of fronts) {
        const frames = await serverAnswer(front.port, bytes(true));
        assert.equal(frames.length, 1, `${name}: only the close frame`);
        assert.equal(closeCodeOf(frames[0]), code, name);
        assert.equal(frames[0]!.masked, false);
        const o = await front.next();
        assert.deepEqual(
          [o.readError, o.info?.code, o.info?.initiatedBy, o.info?.error?.code],
          [error, code, 'local', error],
          name,
        );
      }
      // A close of ours after the bytes: ws answers it if it took them (a 16-bit length of 1).
      const wsFrames = await serverAnswer(wsPort, [...bytes(true), closeFrame(1000)], {}, true);
      assert.equal(closeCodeOf(wsFrames.at(-1)), wsCode ?? code, `ws: ${name}`);
    }
  });

  it('a frame announcing more than readMessageMax: close 1009 at once, without waiting for its payload', async (t) => {
    const server = await netServer(t, { readMessageMax: 1024 });
    // 2 GiB announced (64-bit form), 10 bytes of it sent; the connection stays open on our side, so
    // the server ends it, and attack() rejects when its last frame came cut off.
    const head = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0x80, 0, 0, 0, 1, 2, 3, 4]);
    const first = await attack(server.port, [hs(), Buffer.concat([head, Buffer.alloc(10)])]);
    assert.equal(first.status, 101);
    assert.deepEqual(
      first.frames.map((f) => closeCodeOf(f)),
      [1009],
    );
    const o = await server.next();
    assert.deepEqual([o.readError, o.info?.code], ['ERR_WS_MESSAGE_TOO_BIG', 1009]);
    // Also by fragments: 1000 + 1000 bytes announced, over 1024 with the second header.
    const ex = await attack(server.port, [
      hs(),
      Buffer.concat([binary(Buffer.alloc(1000), { fin: false })]),
      Buffer.from([0x80, 0xfe, 0x03, 0xe8, 1, 2, 3, 4]),
    ]);
    assert.deepEqual(
      ex.frames.map((f) => closeCodeOf(f)),
      [1009],
    );
    assert.equal((await server.next()).readError, 'ERR_WS_MESSAGE_TOO_BIG');
  });
});

describe('server role: permessage-deflate abuse', { timeout: 120_000 }, () => {
  const abuse: [string, Buffer[], number, string, Record<string, string>][] = [
    ['RSV1 on a ping', [ping('x', { rsv: 4 })], 1002, 'ERR_WS_BAD_RESERVED_BITS', DEFLATE],
    [
      'RSV1 on a continuation',
      [
        text(deflated(Buffer.from('hello')).subarray(0, 2), { rsv: 4, fin: false }),
        cont(deflated(Buffer.from('hello')).subarray(2), { rsv: 4 }),
      ],
      1002,
      'ERR_WS_BAD_RESERVED_BITS',
      DEFLATE,
    ],
    [
      'bytes that are no deflate data',
      [binary(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2]), { rsv: 4 })],
      1007,
      'ERR_WS_BAD_FRAME_PAYLOAD',
      DEFLATE,
    ],
    [
      'compressed text that inflates to invalid UTF-8',
      [text(deflated(Buffer.from([0x61, 0xff])), { rsv: 4 })],
      1007,
      'ERR_WS_BAD_FRAME_PAYLOAD',
      DEFLATE,
    ],
    [
      'a compressed message when deflate was not agreed',
      [text(deflated(Buffer.from('hi')), { rsv: 4 })],
      1002,
      'ERR_WS_BAD_RESERVED_BITS',
      {},
    ],
    [
      'a bomb: 200 KB inflating to 200 MB, over readMessageMax (1 MiB)',
      [binary(deflated(Buffer.alloc(200 << 20)), { rsv: 4 })],
      1009,
      'ERR_WS_MESSAGE_TOO_BIG',
      DEFLATE,
    ],
  ];
  it('each closes with its code', async (t) => {
    const options = { perMessageDeflate: true, readMessageMax: 1 << 20 };
    for (const server of [await netServer(t, options), await httpServer(t, options)]) {
      for (const [name, bytes, code, error, over] of abuse) {
        const frames = await serverAnswer(server.port, bytes, over);
        assert.deepEqual(
          frames.map((f) => closeCodeOf(f)),
          [code],
          name,
        );
        const o = await server.next();
        assert.deepEqual([o.readError, o.info?.code], [error, code], name);
        // The reason on the wire says what was wrong: no claim of bad UTF-8 for data that is no deflate.
        if (name.startsWith('bytes that are no deflate'))
          assert.match(frames[0]!.payload.subarray(2).toString(), /^invalid frame payload data: cannot inflate/);
      }
    }
  });

  it('a bomb followed at once by FIN: the reader gets ERR_WS_MESSAGE_TOO_BIG (the message came first), and close 1009 goes out on a half-open socket', async (t) => {
    const options = { perMessageDeflate: true, readMessageMax: 1 << 20 };
    const bomb = binary(deflated(Buffer.alloc(64 << 20)), { rsv: 4 });
    const halfOpen = await httpServer(t, options); // node:http's sockets allow half-open connections
    const ex = await attack(halfOpen.port, [hs(DEFLATE), bomb], { end: true });
    assert.deepEqual(
      ex.frames.map((f) => closeCodeOf(f)),
      [1009],
    );
    const o = await halfOpen.next();
    assert.deepEqual([o.readError, o.info?.code, o.info?.initiatedBy], ['ERR_WS_MESSAGE_TOO_BIG', 1009, 'local']);
    // A socket that ends itself when the peer does (net's default): no close frame can go, but the
    // reader still learns what was wrong with the message before the end.
    const plain = await netServer(t, options);
    await attack(plain.port, [hs(DEFLATE), bomb], { end: true });
    assert.equal((await plain.next()).readError, 'ERR_WS_MESSAGE_TOO_BIG');
    // Good compressed messages before a FIN are all read, then ERR_WS_EOF; our side ends after them.
    const good = await attack(
      halfOpen.port,
      [hs(DEFLATE), text(deflated(Buffer.from('one')), { rsv: 4 }), text(deflated(Buffer.from('two')), { rsv: 4 })],
      { end: true },
    );
    assert.equal(good.status, 101);
    const g = await halfOpen.next();
    assert.deepEqual([g.messages, g.readError, g.info?.code], [['one', 'two'], 'ERR_WS_EOF', 1006]);
  });
});

describe('client role: each violation from the server closes with its code (masked), then ends', {
  timeout: 120_000,
}, () => {
  it('every case of the server role, sent unmasked by a fake server; a masked frame too', async (t) => {
    const all: Case[] = [
      ...cases,
      ['a masked frame', () => [text('masked', { mask: true })], 1002, 'ERR_WS_BAD_MASKED_FRAME'],
    ];
    for (const [name, bytes, code, error] of all) {
      const received: Buffer[] = [];
      let closed!: Promise<unknown>;
      const { url } = await fakeServer(t, (s, accept) => {
        closed = once(s, 'close');
        s.on('data', (d: Buffer) => received.push(d));
        s.write(Buffer.concat([Buffer.from(response101(accept)), ...bytes(false)]));
      });
      const ws = await connect(url);
      const readError = await ws.read().then(
        () => 'a message',
        (e: { code: string }) => e.code,
      );
      const info = await ws.whenClosed();
      await closed;
      assert.deepEqual([readError, info.code, info.initiatedBy], [error, code, 'local'], name);
      const frames = parseFrames(Buffer.concat(received)).frames;
      assert.deepEqual(
        frames.map((f) => [closeCodeOf(f), f.masked]),
        [[code, true]],
        name,
      );
    }
  });

  it('a bomb from the server: 1009 from the client (readMessageMax 1 MiB), ERR_WS_MESSAGE_TOO_BIG to its reader', async (t) => {
    const received: Buffer[] = [];
    const { url } = await fakeServer(t, (s, accept) => {
      s.on('data', (d: Buffer) => received.push(d));
      s.write(
        Buffer.concat([
          Buffer.from(response101(accept, 'Sec-WebSocket-Extensions: permessage-deflate\r\n')),
          binary(deflated(Buffer.alloc(200 << 20)), { rsv: 4, mask: false }),
        ]),
      );
    });
    const ws = await connect(url, { perMessageDeflate: true, readMessageMax: 1 << 20 });
    await assert.rejects(ws.read(), { code: 'ERR_WS_MESSAGE_TOO_BIG' });
    assert.equal((await ws.whenClosed()).code, 1009);
    assert.deepEqual(
      parseFrames(Buffer.concat(received)).frames.map((f) => closeCodeOf(f)),
      [1009],
    );
  });
});

describe('node:http keeps serving', () => {
  it('after every violation above, a plain upgrade still works (no crash, no leak of state)', async (t) => {
    const srv = http.createServer();
    srv.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const ws = new WebSocketStream(socket);
      ws.accept(req, { head })
        .then(async () => {
          for await (const msg of ws) await ws.write(msg.data, { binary: msg.binary });
        })
        .catch(() => {});
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    t.after(() => srv.close());
    const port = (srv.address() as net.AddressInfo).port;
    for (const [, bytes] of cases) await serverAnswer(port, bytes(true));
    const frames = await serverAnswer(port, [text('alive'), closeFrame(1000)]);
    assert.deepEqual(
      frames.map((f) => f.payload.toString().slice(f.opcode === 8 ? 2 : 0)),
      ['alive', ''],
    );
  });
});
